//! Crash safety, with things really killed: a backend running `CALL
//! forget.run_jobs()` terminated with `pg_terminate_backend`, and the server
//! stopped with `pg_ctl -m immediate` in the middle of a job. After that the
//! job is seen as abandoned, `forget.retry_job` queues it again, it resumes
//! from its progress, and every matched row is masked exactly once (a trigger
//! logs every update), no other row changed, nothing lost. These tests start
//! and kill a scratch server of their own (port 55450), never the shared one.

use std::process::Command;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

const PORT: &str = "55450";
const ROOT: &str = "/tmp/pgf_crash";

fn cluster(cmd: &str) {
    let st = Command::new("bash")
        .args(["scripts/cluster.sh", cmd])
        .env("PGFORGET_PORT", PORT)
        .env("PGFORGET_ROOT", ROOT)
        .status()
        .expect("run scripts/cluster.sh");
    assert!(st.success(), "cluster.sh {cmd}");
}

fn connect(db: &str) -> Client {
    let dsn = format!("host=127.0.0.1 port={PORT} user=postgres dbname={db}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(&dsn, NoTls) {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
}

/// 200,000 sessions of 50 users; an update log that shows how often each row was masked.
fn fixture(db: &str) {
    let mut admin = connect("postgres");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    let mut c = connect(db);
    c.batch_execute(
        r#"
        CREATE EXTENSION pg_forget;
        CREATE TABLE sessions (id bigint PRIMARY KEY, user_id text, ip inet, started_at timestamptz NOT NULL);
        COMMENT ON COLUMN sessions.user_id IS '@pii subject';
        COMMENT ON COLUMN sessions.ip IS '@pii ip';
        COMMENT ON COLUMN sessions.started_at IS '@pii time';
        INSERT INTO sessions SELECT g, 'user' || (g % 50), ('10.1.' || (g % 200) || '.' || (1 + g % 250))::inet,
                                    timestamptz '2025-01-01' + g * interval '1 minute'
                               FROM generate_series(1, 200000) g;
        CREATE INDEX ON sessions (user_id);
        CREATE TABLE mask_log (id bigint NOT NULL, old_user text, new_user text);
        CREATE FUNCTION log_mask() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO mask_log VALUES (NEW.id, OLD.user_id, NEW.user_id); RETURN NEW; END $$;
        CREATE TRIGGER log_mask AFTER UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION log_mask();
        "#,
    )
    .unwrap();
}

fn queue(c: &mut Client, users: &[&str]) -> (i64, i64) {
    let users: Vec<String> = users.iter().map(|s| s.to_string()).collect();
    let matched: i64 = c.query_one("SELECT count(*) FROM sessions WHERE user_id = ANY($1)", &[&users]).unwrap().get(0);
    let job: i64 =
        c.query_one("SELECT forget.create_anonymization_job(NULL, NULL, $1, NULL, NULL)", &[&users]).unwrap().get(0);
    (job, matched)
}

/// Starts `CALL forget.run_jobs()` with small batches on its own connection; returns its pid.
fn start_runner(db: &str) -> (i32, std::thread::JoinHandle<Result<u64, postgres::Error>>) {
    let db = db.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut c = connect(&db);
        let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        c.batch_execute("SET forget.batch_size = 500").unwrap();
        tx.send(pid).unwrap();
        c.execute("CALL forget.run_jobs()", &[])
    });
    (rx.recv().unwrap(), h)
}

fn wait_progress(c: &mut Client, job: i64, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = c.query_one("SELECT rows_done FROM forget.job WHERE id = $1", &[&job]).unwrap().get(0);
        if done >= at_least {
            return;
        }
        assert!(Instant::now() < deadline, "the job made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish_and_check(c: &mut Client, job: i64, matched: i64, users: &[&str]) {
    let row = c.query_one("SELECT status, abandoned, rows_done FROM forget.jobs WHERE id = $1", &[&job]).unwrap();
    assert_eq!(row.get::<_, String>(0), "running", "the killed job still says running");
    assert!(row.get::<_, bool>(1), "and is seen as abandoned");
    let partial: i64 = row.get(2);
    assert!(partial > 0 && partial < matched, "it was cut off in the middle ({partial} of {matched})");
    let again: i64 = c.query_one("SELECT forget.retry_job($1)", &[&job]).unwrap().get(0);
    assert_eq!(again, job, "retry_job keeps the id");
    c.execute("CALL forget.run_jobs()", &[]).unwrap();
    let row = c.query_one("SELECT status, rows_done, rows_matched FROM forget.jobs WHERE id = $1", &[&job]).unwrap();
    assert_eq!(row.get::<_, String>(0), "done");
    assert_eq!(row.get::<_, i64>(1), matched, "rows done counts every matched row once");
    let users: Vec<String> = users.iter().map(|s| s.to_string()).collect();
    // exactly once: one logged update per matched row, none for any other row
    let twice: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT id FROM mask_log WHERE old_user = ANY($1) GROUP BY id HAVING count(*) > 1) d",
            &[&users],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "no row masked twice");
    let once: i64 =
        c.query_one("SELECT count(DISTINCT id) FROM mask_log WHERE old_user = ANY($1)", &[&users]).unwrap().get(0);
    assert_eq!(once, matched, "every matched row masked");
    let left: i64 = c.query_one("SELECT count(*) FROM sessions WHERE user_id = ANY($1)", &[&users]).unwrap().get(0);
    assert_eq!(left, 0);
    let total: i64 = c.query_one("SELECT count(*) FROM sessions", &[]).unwrap().get(0);
    assert_eq!(total, 200_000, "nothing lost");
}

#[test]
fn terminated_runner_and_immediate_shutdown_then_retry() {
    // a server left from an earlier run may have an older library loaded
    cluster("stop");
    cluster("start");
    fixture("crash");
    let mut c = connect("crash");

    // 1. the backend running the job is terminated
    let users1 = ["user1", "user2", "user3", "user4", "user5"];
    let (job, matched) = queue(&mut c, &users1);
    let (pid, runner) = start_runner("crash");
    wait_progress(&mut c, job, 2000);
    let killed: bool = c.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(killed);
    assert!(runner.join().unwrap().is_err(), "the runner's CALL was cut off");
    std::thread::sleep(Duration::from_millis(300));
    finish_and_check(&mut c, job, matched, &users1);

    // 2. the server stops without a checkpoint in the middle of a job
    let users2 = ["user11", "user12", "user13", "user14", "user15"];
    let (job, matched) = queue(&mut c, &users2);
    let (_pid, runner) = start_runner("crash");
    wait_progress(&mut c, job, 2000);
    drop(c);
    cluster("crash");
    assert!(runner.join().unwrap().is_err(), "the runner's CALL was cut off");
    cluster("start");
    let mut c = connect("crash");
    finish_and_check(&mut c, job, matched, &users2);
    drop(c);
    cluster("stop");
}
