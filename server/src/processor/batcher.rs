//! Forming batches: the "when do we write?" rule, apart from the writing, so it can be tested
//! with paused time.
//!
//! A batch is closed when it holds `batch_size` items, or `flush_interval` after its first item
//! arrived, whichever comes first. Items already queued are taken without waiting, so an
//! interval of zero means "write whatever is there now". After `shutdown` fires the queue is
//! closed to new items and what it still holds is handed out without waiting for the interval.

use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

pub struct Batcher<T> {
    rx: mpsc::Receiver<T>,
    batch_size: usize,
    flush_interval: Duration,
    shutdown: CancellationToken,
    closed: bool,
}

impl<T> Batcher<T> {
    pub fn new(
        rx: mpsc::Receiver<T>,
        batch_size: usize,
        flush_interval: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            rx,
            batch_size: batch_size.max(1),
            flush_interval,
            shutdown,
            closed: false,
        }
    }

    /// The next batch, or `None` once the queue is closed and empty.
    pub async fn next_batch(&mut self) -> Option<Vec<T>> {
        let first = loop {
            tokio::select! {
                item = self.rx.recv() => break item?,
                () = self.shutdown.cancelled(), if !self.closed => self.close(),
            }
        };
        let deadline = Instant::now() + self.flush_interval;
        let mut batch = Vec::with_capacity(self.batch_size);
        batch.push(first);
        while batch.len() < self.batch_size {
            if let Ok(item) = self.rx.try_recv() {
                batch.push(item);
                continue;
            }
            if self.closed {
                break;
            }
            tokio::select! {
                item = self.rx.recv() => match item {
                    Some(item) => batch.push(item),
                    None => break,
                },
                () = sleep_until(deadline) => break,
                () = self.shutdown.cancelled() => self.close(),
            }
        }
        Some(batch)
    }

    /// Refuses new items; the ones already queued are still handed out.
    fn close(&mut self) {
        self.closed = true;
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batcher(
        size: usize,
        interval_ms: u64,
    ) -> (mpsc::Sender<u32>, Batcher<u32>, CancellationToken) {
        let (tx, rx) = mpsc::channel(1000);
        let shutdown = CancellationToken::new();
        let batcher = Batcher::new(
            rx,
            size,
            Duration::from_millis(interval_ms),
            shutdown.clone(),
        );
        (tx, batcher, shutdown)
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_is_written_without_waiting_for_the_interval() {
        let (tx, mut batcher, _) = batcher(3, 50);
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
        let start = Instant::now();
        assert_eq!(batcher.next_batch().await.unwrap(), [0, 1, 2]);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_batch_is_written_one_interval_after_its_first_message() {
        let (tx, mut batcher, _) = batcher(100, 50);
        tx.send(1).await.unwrap();
        let start = Instant::now();
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(2).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            tx.send(3).await.unwrap();
        });
        assert_eq!(batcher.next_batch().await.unwrap(), [1, 2]);
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        assert_eq!(batcher.next_batch().await.unwrap(), [3]);
        late.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_interval_takes_what_is_queued_and_goes() {
        let (tx, mut batcher, _) = batcher(100, 0);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(batcher.next_batch().await.unwrap(), [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_hands_out_what_is_queued_then_ends_and_refuses_more() {
        let (tx, mut batcher, shutdown) = batcher(2, 1000);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        shutdown.cancel();
        let start = Instant::now();
        assert_eq!(batcher.next_batch().await.unwrap(), [0, 1]);
        assert_eq!(batcher.next_batch().await.unwrap(), [2]);
        assert!(batcher.next_batch().await.is_none());
        assert!(tx.try_send(9).is_err());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
