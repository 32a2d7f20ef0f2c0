// pg_forget from Node.js with node-postgres (pg): bind parameters only, SQLSTATEs checked.
// Each check prints "ok <name>" or "not ok <name>"; the exit status is the number of failures.
'use strict';
const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

const port = Number(process.env.PGFORGET_PORT || 55432);
const DB = 'pgf_driver_node';
const fixture = fs.readFileSync(path.join(__dirname, '..', 'fixture.sql'), 'utf8');
let failures = 0;
function check(name, cond) {
  console.log((cond ? 'ok ' : 'not ok ') + name);
  if (!cond) failures += 1;
}
async function sqlstate(c, sql, params) {
  try { await c.query(sql, params); return null; } catch (e) { return e.code; }
}

(async () => {
  const admin = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  const c = new Client({ host: '127.0.0.1', port, user: 'postgres', database: DB });
  await c.connect();
  await c.query(fixture);

  const job = Number((await c.query('SELECT forget.anonymize_users($1::text[]) AS id', [['alice']])).rows[0].id);
  const st = (await c.query('SELECT status FROM forget.job_status($1)', [job])).rows[0].status;
  check('anonymize_users with a text[] parameter', st === 'done');
  const rep = (await c.query('SELECT column_name, row_count FROM forget.job_report($1) WHERE table_name = $2', [job, 'users'])).rows;
  const byCol = Object.fromEntries(rep.map((r) => [r.column_name, Number(r.row_count)]));
  check('job_report per column', byCol.username === 1 && byCol.email === 1);

  const job2 = Number((await c.query(
    'SELECT forget.create_anonymization_job($1::timestamptz, $2::timestamptz, $3::text[], $4::inet[], $5::text[]) AS id',
    [new Date('2026-01-01T00:00:00Z'), new Date('2026-01-03T02:00:00Z'), ['carol'], ['10.0.0.7/32'], null])).rows[0].id);
  check('create_anonymization_job with timestamptz, text[] and inet[] parameters', job2 > job);
  await c.query('CALL forget.run_jobs($1)', [10]);
  let row;
  const deadline = Date.now() + 30000;
  for (;;) {
    row = (await c.query('SELECT status, rows_done FROM forget.job_status($1)', [job2])).rows[0];
    if (row.status === 'done' || row.status === 'failed' || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  check('CALL forget.run_jobs() and polling job_status', row.status === 'done' && Number(row.rows_done) === 26);
  check('a failing call reports SQLSTATE 22023', (await sqlstate(c, 'SELECT forget.anonymize_users($1::text[])', [['']])) === '22023');
  check('a NULL element reports SQLSTATE 22004', (await sqlstate(c, 'SELECT forget.anonymize_users($1::text[])', [['x', null]])) === '22004');
  await c.end();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.end();
  process.exit(failures);
})().catch((e) => { console.log('not ok client crashed: ' + e.message); process.exit(1); });
