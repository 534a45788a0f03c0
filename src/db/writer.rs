//! The writer thread: group commit over one connection.
//!
//! Each job runs in its own savepoint inside the batch's transaction, so one job's error undoes
//! only that job. But SQLite rolls the *whole* transaction back by itself on some errors
//! (`SQLITE_FULL`, some I/O errors), and a failed `RELEASE` leaves a job's changes in an open
//! savepoint that the final `COMMIT` would keep. In both cases the batch is *broken*: the jobs
//! not yet run fail without running, the transaction is rolled back (when SQLite has not done
//! it already) and every job of the batch is told it failed — a job is told "ok" only when its
//! changes were committed, and "failed" only when none of them were.
//!
//! The queue is bounded ([`QUEUE_CAP`]): when it is full a write is refused at once with 503 and
//! `Retry-After` instead of growing memory without limit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, DropBehavior, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::DbError;

/// Most jobs that share one transaction.
const MAX_BATCH: usize = 256;

/// Most jobs that may wait for the writer; the next write is refused with 503.
pub const QUEUE_CAP: usize = 4096;

/// What runs after the commit: answers the waiting request with the job's result or the
/// batch's failure.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;

/// One unit of work for the writer: given the batch's transaction (or why there is none), it
/// does its work and returns what to do once the batch is committed, plus why the batch is
/// broken when the job left the transaction unusable.
pub type WriteJob =
    Box<dyn FnOnce(Result<&Transaction, &str>) -> (Completion, Option<String>) + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::SyncSender<WriteJob>,
    queued: Arc<AtomicUsize>,
}

impl Writer {
    pub fn start(conn: Connection) -> Writer {
        Writer::start_with_capacity(conn, QUEUE_CAP)
    }

    pub fn start_with_capacity(conn: Connection, capacity: usize) -> Writer {
        let (jobs, inbox) = mpsc::sync_channel::<WriteJob>(capacity);
        let queued = Arc::new(AtomicUsize::new(0));
        let counter = queued.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, inbox, counter))
            .expect("spawn the database writer thread");
        Writer { jobs, queued }
    }

    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub async fn submit<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let job: WriteJob = Box::new(move |tx: Result<&Transaction, &str>| {
            let (result, broken) = match tx {
                Ok(tx) => run_in_savepoint(tx, f),
                Err(reason) => (Err(DbError::Begin(reason.to_string()).into()), None),
            };
            let done: Completion = Box::new(move |batch_error: Option<&str>| {
                let result = match batch_error {
                    None => result,
                    Some(err) => Err(DbError::Commit(err.to_string()).into()),
                };
                let _ = reply.send(result);
            });
            (done, broken)
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(
                    capacity = QUEUE_CAP,
                    "database writer queue full; refusing a write"
                );
                return Err(DbError::QueueFull.into());
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(DbError::WriterStopped.into());
            }
        }
        answer.await.map_err(|_| DbError::JobDropped)?
    }
}

/// Runs one statement through the connection's statement cache (the savepoint statements run
/// for every job: parsing them each time showed in the writer's profile).
fn run_cached(tx: &Transaction, sql: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `f` in a savepoint. The second value says why the batch is broken, if it is.
fn run_in_savepoint<T, E: From<DbError>>(
    tx: &Transaction,
    f: impl FnOnce(&Transaction) -> Result<T, E>,
) -> (Result<T, E>, Option<String>) {
    if let Err(err) = run_cached(tx, "SAVEPOINT job") {
        let reason = format!("SAVEPOINT failed: {err}");
        return (Err(DbError::Broken(reason.clone()).into()), Some(reason));
    }
    let result = catch_unwind(AssertUnwindSafe(|| f(tx)))
        .unwrap_or_else(|_| Err(DbError::JobPanicked.into()));
    if tx.is_autocommit() {
        // SQLite rolled the whole transaction back (SQLITE_FULL, an I/O error): every change
        // of this batch is gone, whatever this job returned.
        let reason = "SQLite rolled the transaction back".to_string();
        let result = result.and_then(|_| Err(DbError::Broken(reason.clone()).into()));
        return (result, Some(reason));
    }
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    let ended = if result.is_ok() {
        run_cached(tx, end)
    } else {
        tx.execute_batch(end)
    };
    match ended {
        Ok(()) => (result, None),
        Err(err) => {
            let reason = format!("{end} failed: {err}");
            (Err(DbError::Broken(reason.clone()).into()), Some(reason))
        }
    }
}

fn run(mut conn: Connection, inbox: mpsc::Receiver<WriteJob>, queued: Arc<AtomicUsize>) {
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                let reason = format!("cannot start a transaction: {err}");
                tracing::error!(error = %reason, jobs = batch.len(), "write batch not run");
                for job in batch {
                    job(Err(&reason)).0(None);
                }
                continue;
            }
        };
        let mut broken: Option<String> = None;
        let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
        for job in batch {
            let (done, breaks) = match &broken {
                Some(reason) => job(Err(reason)),
                None => job(Ok(&tx)),
            };
            completions.push(done);
            if broken.is_none() {
                broken = breaks;
            }
        }
        let error = match broken {
            Some(reason) => {
                // Nothing of this batch may land: roll back what SQLite has not already.
                tx.set_drop_behavior(DropBehavior::Rollback);
                if let Err(err) = tx.finish() {
                    tracing::error!(error = %err, "rolling back a broken batch failed");
                }
                Some(reason)
            }
            None => tx.commit().err().map(|e| format!("commit failed: {e}")),
        };
        if let Some(err) = &error {
            tracing::error!(error = %err, jobs = completions.len(), "write batch failed; nothing of it was committed");
        }
        for done in completions {
            done(error.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type Job = Box<dyn FnOnce(&Transaction) -> Result<(), DbError> + Send>;

    fn conn(dir: &tempfile::TempDir) -> Connection {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                 p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        conn
    }

    fn ids(dir: &tempfile::TempDir) -> Vec<i64> {
        let c = Connection::open(dir.path().join("w.db")).unwrap();
        let mut s = c.prepare("SELECT id FROM t ORDER BY id").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Occupies the writer with a job that waits until the returned sender is used.
    async fn hold(
        writer: &Writer,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), DbError>>,
    ) {
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let w = writer.clone();
        let holder = tokio::spawn(async move {
            w.submit(move |_| {
                gate.recv().unwrap();
                Ok(())
            })
            .await
        });
        while writer.queue_depth() != 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // the holder is running
        (open, holder)
    }

    /// Runs `jobs` as ONE batch: a first job holds the writer until all of them are queued.
    async fn one_batch(writer: &Writer, jobs: Vec<Job>) -> Vec<Result<(), DbError>> {
        let (open, holder) = hold(writer).await;
        let mut handles = Vec::new();
        for (i, job) in jobs.into_iter().enumerate() {
            let w = writer.clone();
            handles.push(tokio::spawn(async move { w.submit(job).await }));
            // Queued in order: the next job is sent only once this one waits.
            while writer.queue_depth() != i + 1 {
                tokio::task::yield_now().await;
            }
        }
        open.send(()).unwrap();
        holder.await.unwrap().unwrap();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    fn insert(id: i64) -> Job {
        Box::new(move |tx| {
            tx.execute("INSERT INTO t (id) VALUES (?1)", [id])?;
            Ok(())
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_is_isolated_from_the_others_of_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(conn(&dir));
        let failing: Job = Box::new(|tx| {
            tx.execute("INSERT INTO t (id) VALUES (2)", [])?;
            Err(DbError::Broken("the job refused".into()))
        });
        let results = one_batch(&writer, vec![insert(1), failing, insert(3)]).await;
        assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
        assert_eq!(ids(&dir), vec![1, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_failure_reaches_every_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(conn(&dir));
        // A deferred foreign key is checked at COMMIT only: the whole batch fails there.
        let orphan: Job = Box::new(|tx| {
            tx.execute("INSERT INTO child (id, p) VALUES (1, 99)", [])?;
            Ok(())
        });
        let results = one_batch(&writer, vec![insert(1), orphan, insert(3)]).await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert_eq!(ids(&dir), Vec::<i64>::new());
        // The writer goes on.
        writer.submit(insert(4)).await.unwrap();
        assert_eq!(ids(&dir), vec![4]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_sqlite_rolled_back_fails_the_whole_batch_and_runs_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(conn(&dir));
        // What SQLite does by itself on SQLITE_FULL or an I/O error: the transaction is gone.
        let rolled_back: Job = Box::new(|tx| {
            tx.execute_batch("ROLLBACK")?;
            Err(DbError::Broken("database or disk is full".into()))
        });
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let after: Job = Box::new(move |tx| {
            counted.fetch_add(1, Ordering::SeqCst);
            tx.execute("INSERT INTO t (id) VALUES (3)", [])?;
            Ok(())
        });
        let results = one_batch(&writer, vec![insert(1), rolled_back, after]).await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a job after the rollback must not run"
        );
        assert_eq!(ids(&dir), Vec::<i64>::new(), "no job of the batch landed");
        writer.submit(insert(5)).await.unwrap();
        assert_eq!(ids(&dir), vec![5]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_loses_nothing_acknowledged_and_writes_recover() {
        let dir = tempfile::tempdir().unwrap();
        let c = conn(&dir);
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        c.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 8))
            .unwrap();
        let writer = Writer::start(c);
        let big: Job = Box::new(|tx| {
            tx.execute("INSERT INTO t (id, v) VALUES (2, zeroblob(1000000))", [])?;
            Ok(())
        });
        let results = one_batch(&writer, vec![insert(1), big, insert(3)]).await;
        assert!(results[1].is_err(), "the oversized write fails");
        // Every job told "ok" landed, every job told "failed" did not.
        let landed = ids(&dir);
        for (id, result) in [1, 2, 3].iter().zip(&results) {
            assert_eq!(
                landed.contains(id),
                result.is_ok(),
                "job {id}: {result:?}, rows {landed:?}"
            );
        }
        // Reads go on; when space returns, writes do too.
        assert!(!ids(&dir).contains(&2));
        writer
            .submit(|tx| {
                tx.execute_batch("PRAGMA max_page_count = 1000000")?;
                Ok::<_, DbError>(())
            })
            .await
            .unwrap();
        writer.submit(big_again()).await.unwrap();
        assert!(ids(&dir).contains(&2));
    }

    fn big_again() -> Job {
        Box::new(|tx| {
            tx.execute("INSERT INTO t (id, v) VALUES (2, zeroblob(1000000))", [])?;
            Ok(())
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_with_503_and_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start_with_capacity(conn(&dir), 2);
        let (open, holder) = hold(&writer).await;
        let queued: Vec<_> = (1..=2)
            .map(|id| {
                let w = writer.clone();
                tokio::spawn(async move { w.submit(insert(id)).await })
            })
            .collect();
        while writer.queue_depth() != 2 {
            tokio::task::yield_now().await;
        }
        let refused = writer.submit(insert(9)).await.unwrap_err();
        assert!(matches!(refused, DbError::QueueFull), "{refused}");
        open.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        assert_eq!(ids(&dir), vec![1, 2]);
    }
}
