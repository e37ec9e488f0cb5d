// Checks, before the suite runs, that the programs the tests start are here.
// As root on Debian it installs what is missing; otherwise it names, in one
// line each, what to install. Tests start their own servers on free ports.
import { execFileSync, spawnSync } from 'node:child_process';

const needs = [
  { program: 'redis-server', debian: 'redis-server', why: 'multi-instance and Redis outage tests' },
  { program: 'redis-cli', debian: 'redis-tools', why: 'creating the Redis Cluster in the cluster test' },
];

const has = (program) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
const missing = needs.filter((need) => !has(need.program));
const isRoot = process.getuid?.() === 0;

if (missing.length > 0 && isRoot && has('apt-get')) {
  const packages = [...new Set(missing.map((need) => need.debian))];
  console.log(`preflight: installing ${packages.join(' ')} (Debian packages) for the tests`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

const stillMissing = needs.filter((need) => !has(need.program));
for (const need of stillMissing) {
  console.error(`preflight: ${need.program} is missing (${need.why}): install it with: sudo apt-get install ${need.debian}`);
}
if (stillMissing.length > 0) process.exit(1);
