// Herald's benchmark: see bench/README.md.
//   npm run bench                         every scenario, full length (~10 min)
//   npm run bench -- --quick              a few seconds per scenario
//   npm run bench -- idle fanout          only these scenarios (merged into latest.json)
//   npm run bench -- fanout-topic         the fan-out to 5,000 streams following one topic
//   npm run bench -- --render             re-render the markdown and SVG from results/latest.json
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll } from './lib/processes.mjs';
import { nchanAvailable } from './lib/nchan.mjs';
import { render } from './lib/render.mjs';
import { fanout, fanoutTopic } from './scenarios/fanout.mjs';
import { idle } from './scenarios/idle.mjs';
import { crossInstance, httpBatch, httpLive, httpPersisted, ingress } from './scenarios/publish.mjs';
import { reconnectStorm } from './scenarios/reconnect.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'results');
const LATEST = path.join(RESULTS, 'latest.json');

const SCENARIOS = {
  idle,
  'http-live': httpLive,
  'http-persisted': httpPersisted,
  'http-batch': httpBatch,
  ingress,
  fanout,
  'fanout-topic': fanoutTopic,
  'cross-instance': crossInstance,
  'reconnect-storm': reconnectStorm,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const renderOnly = args.includes('--render');
const named = args.filter((a) => !a.startsWith('--'));
for (const name of named) {
  if (!SCENARIOS[name]) {
    console.error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}

function writeOutputs(results) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(LATEST, `${JSON.stringify(results, null, 2)}\n`);
  const { markdown, svg, date } = render(results);
  writeFileSync(path.join(RESULTS, `${date}.md`), markdown);
  writeFileSync(path.join(RESULTS, `${date}-p99.svg`), svg);
  console.log(`wrote bench/results/latest.json, bench/results/${date}.md and bench/results/${date}-p99.svg`);
}

if (renderOnly) {
  writeOutputs(JSON.parse(readFileSync(LATEST, 'utf8')));
  process.exit(0);
}

// Everything the bench runs from here on (subscribers, publisher) is on CPU 1;
// the servers it starts are pinned to CPU 0 explicitly.
execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });

const cleanup = () => killAll();
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`${signal}: stopping every process the bench started`);
    killAll();
    process.exit(130);
  });
}

const previous = existsSync(LATEST) ? JSON.parse(readFileSync(LATEST, 'utf8')) : { scenarios: {} };
const results = {
  date: new Date().toISOString(),
  quick,
  machine: { cpus: 2, node: process.version, note: 'servers on CPU 0, load generator on CPU 1' },
  nchan: nchanAvailable(),
  scenarios: named.length > 0 ? { ...previous.scenarios } : {},
};
const ctx = {
  quick,
  nchan: results.nchan,
  stepMs: quick ? 1500 : 5000,
  drainMs: quick ? 3000 : 5000,
  log: (line) => console.log(line),
};
if (!results.nchan) console.log('Nchan: not installed (libnginx-mod-nchan), its columns are skipped');

let failed = false;
for (const name of named.length > 0 ? named : Object.keys(SCENARIOS)) {
  console.log(`\n== ${name}${quick ? ' (quick)' : ''}`);
  const started = Date.now();
  try {
    results.scenarios[name] = { ...(await SCENARIOS[name](ctx)), quick, seconds: Math.round((Date.now() - started) / 1000) };
  } catch (err) {
    failed = true;
    console.error(`  ${name} failed: ${err.stack ?? err}`);
    results.scenarios[name] = { error: String(err.message ?? err), quick };
  }
  killAll(); // nothing of one scenario outlives it
}
writeOutputs(results);
process.exit(failed ? 1 : 0);
