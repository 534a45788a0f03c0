//! The writer thread: group commit over one connection.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::DbError;

/// Most jobs that share one transaction.
const MAX_BATCH: usize = 256;

/// What runs after the commit: answers the waiting request with the job's result or the
/// commit's failure.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;

/// One unit of work for the writer: given the batch's transaction (or why there is none), it
/// does its work and returns what to do once the batch is committed.
pub type WriteJob = Box<dyn FnOnce(Result<&Transaction, &str>) -> Completion + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<WriteJob>,
    queued: Arc<AtomicUsize>,
}

impl Writer {
    pub fn start(conn: Connection) -> Writer {
        let (jobs, inbox) = mpsc::channel::<WriteJob>();
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
            let result = match tx {
                Ok(tx) => run_in_savepoint(tx, f),
                Err(reason) => Err(DbError::Begin(reason.to_string()).into()),
            };
            Box::new(move |commit_error: Option<&str>| {
                let result = match commit_error {
                    None => result,
                    Some(err) => Err(DbError::Commit(err.to_string()).into()),
                };
                let _ = reply.send(result);
            })
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(DbError::WriterStopped.into());
        }
        answer.await.map_err(|_| DbError::JobDropped)?
    }
}

fn run_in_savepoint<T, E: From<DbError>>(
    tx: &Transaction,
    f: impl FnOnce(&Transaction) -> Result<T, E>,
) -> Result<T, E> {
    tx.execute_batch("SAVEPOINT job").map_err(DbError::from)?;
    let result = catch_unwind(AssertUnwindSafe(|| f(tx)))
        .unwrap_or_else(|_| Err(DbError::JobPanicked.into()));
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    tx.execute_batch(end).map_err(DbError::from)?;
    result
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
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                let reason = err.to_string();
                for job in batch {
                    job(Err(&reason))(None);
                }
                continue;
            }
        };
        let completions: Vec<Completion> = batch.into_iter().map(|job| job(Ok(&tx))).collect();
        let commit = tx.commit().map_err(|e| e.to_string());
        let error = commit.as_ref().err().map(String::as_str);
        if let Some(err) = error {
            tracing::error!(error = %err, jobs = completions.len(), "group commit failed");
        }
        for done in completions {
            done(error);
        }
    }
}
