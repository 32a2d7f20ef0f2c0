"""pg_forget from Python with psycopg 3: bind parameters only, SQLSTATEs checked.

Each check prints "ok <name>" or "not ok <name>"; the exit status is the number of failures.
"""
import datetime
import ipaddress
import os
import pathlib
import sys
import time

import psycopg

PORT = os.environ.get("PGFORGET_PORT", "55432")
BASE = f"host=127.0.0.1 port={PORT} user=postgres"
DB = "pgf_driver_python"
FIXTURE = (pathlib.Path(__file__).parent.parent / "fixture.sql").read_text()
failures = 0


def check(name, cond):
    global failures
    print(("ok " if cond else "not ok ") + name)
    if not cond:
        failures += 1


with psycopg.connect(BASE + " dbname=postgres", autocommit=True) as admin:
    admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {DB}")

with psycopg.connect(BASE + f" dbname={DB}", autocommit=True) as c:
    c.execute(FIXTURE)
    job = c.execute("SELECT forget.anonymize_users(%s)", (["alice"],)).fetchone()[0]
    status = c.execute("SELECT status FROM forget.job_status(%s)", (job,)).fetchone()[0]
    check("anonymize_users with a text[] parameter", status == "done")
    report = dict(c.execute(
        "SELECT column_name, row_count FROM forget.job_report(%s) WHERE table_name = %s", (job, "users")).fetchall())
    check("job_report per column", report.get("username") == 1 and report.get("email") == 1)
    name = c.execute("SELECT username FROM users WHERE id = %s", (1,)).fetchone()[0]
    check("alice is anonymous", name.startswith("anonymous"))

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2026, 1, 3, 2, tzinfo=datetime.timezone.utc)
    nets = [ipaddress.ip_interface("10.0.0.7/32")]
    job2 = c.execute("SELECT forget.create_anonymization_job(%s, %s, %s, %s, %s)",
                     (start, end, ["carol"], nets, None)).fetchone()[0]
    check("create_anonymization_job with timestamptz, text[] and inet[] parameters", isinstance(job2, int))
    c.execute("CALL forget.run_jobs(%s)", (10,))
    deadline = time.time() + 30
    while True:
        row = c.execute("SELECT status, rows_done FROM forget.job_status(%s)", (job2,)).fetchone()
        if row[0] in ("done", "failed") or time.time() > deadline:
            break
        time.sleep(0.2)
    # carol's sessions 2..50 step 2 within the first 50 hours, plus dave's session from 10.0.0.7
    check("CALL forget.run_jobs() and polling job_status", row == ("done", 26))

    try:
        c.execute("SELECT forget.anonymize_users(%s)", ([""],))
        check("a failing call reports SQLSTATE 22023", False)
    except psycopg.Error as e:
        check("a failing call reports SQLSTATE 22023", e.sqlstate == "22023")
    try:
        c.execute("SELECT forget.anonymize_users(%s)", (["x", None],))
        check("a NULL element reports SQLSTATE 22004", False)
    except psycopg.Error as e:
        check("a NULL element reports SQLSTATE 22004", e.sqlstate == "22004")

with psycopg.connect(BASE + " dbname=postgres", autocommit=True) as admin:
    admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
sys.exit(failures)
