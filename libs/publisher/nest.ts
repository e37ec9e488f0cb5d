/** The NestJS module: `HeraldModule.forRoot(…)` and the injectable `HeraldPublisher`. */
export { HeraldModule, HeraldPublisher, type HeraldModuleAsyncOptions, type HeraldModuleOptions } from './herald.module.js';
