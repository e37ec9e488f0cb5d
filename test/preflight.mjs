// Checks, before the suite runs, that the programs the tests start are here.
// As root on Debian it installs what is missing; otherwise it names, in one
// line each, what to install. Tests start their own servers on free ports.
import { execFileSync, spawnSync } from 'node:child_process';

const needs = [
  { program: 'redis-server', debian: 'redis-server', why: 'multi-instance and Redis outage tests' },
  { program: 'redis-cli', debian: 'redis-tools', why: 'creating the Redis Cluster in the cluster test' },
  { program: 'chromium', debian: 'chromium', why: 'the demo page tests in a real browser' },
  { program: 'nginx', debian: 'nginx', why: 'the test of the shipped nginx config' },
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

// PostgreSQL: the tests create (and drop) a database each on this server.
const pgUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const { postgresAnswers } = await import('../chaos/lib/postgres.mjs');
const pgAnswers = () => postgresAnswers(pgUrl, 3000);
if (!(await pgAnswers()) && isRoot && has('apt-get') && !process.env.TEST_POSTGRES_URL) {
  if (!has('pg_ctlcluster')) {
    console.log('preflight: installing postgresql (Debian package) for the PostgreSQL tests');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'postgresql'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const version = execFileSync('ls', ['/etc/postgresql']).toString().trim().split('\n')[0];
  console.log(`preflight: starting PostgreSQL ${version}`);
  spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' });
  // Trust local TCP connections, as the tests connect without a password.
  spawnSync('su', ['postgres', '-c', `psql -c "ALTER USER postgres PASSWORD NULL"`], { stdio: 'ignore' });
  const hba = `/etc/postgresql/${version}/main/pg_hba.conf`;
  spawnSync('sh', ['-c', `grep -q '^host all all 127.0.0.1/32 trust' ${hba} || sed -i '1i host all all 127.0.0.1/32 trust' ${hba}`]);
  spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'reload'], { stdio: 'inherit' });
  spawnSync('su', ['postgres', '-c', 'createdb test'], { stdio: 'ignore' });
}
if (!(await pgAnswers())) {
  console.error(
    `preflight: PostgreSQL does not answer at ${pgUrl}: install and start it (sudo apt-get install postgresql), or point TEST_POSTGRES_URL at a server where the user may create databases`,
  );
  process.exit(1);
}
