// The `#herald/*` libraries (package.json "imports") and the workspace
// packages (`@herald/contracts`, `@herald/publisher`, `@herald/client`) mapped
// to their sources, as tsconfig.json's paths do: jest runs the TypeScript
// sources, Node runs the built files.
const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2023',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

/**
 * content-disposition (of @fastify/static, which serves the demo page and
 * Swagger UI's files) is an ES module that a CommonJS module requires: Node
 * does that, Jest's module loader only on Node 24.9 and later. So Jest gets
 * it as CommonJS.
 */
const esmRequiredByCommonJs = 'content-disposition';

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': swc,
    [`/node_modules/(.+/)?${esmRequiredByCommonJs}/.+\\.js$`]: ['@swc/jest', { module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(.+/)?${esmRequiredByCommonJs}/)`],
  moduleNameMapper: {
    '^#herald/(.*)$': '<rootDir>/libs/$1.ts',
    '^@herald/publisher$': '<rootDir>/libs/publisher/index.ts',
    '^@herald/client$': '<rootDir>/libs/client/client.ts',
    '^@herald/(.*)$': '<rootDir>/libs/$1.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
  modulePathIgnorePatterns: ['<rootDir>/libs/[^/]+/dist/'],
  setupFiles: ['reflect-metadata'],
  testTimeout: 30000,
};
