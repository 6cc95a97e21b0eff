//! [`CountingIo`]: the wrapper around every accepted socket that counts completed write calls into
//! `dashfeed_socket_writes_total` — how the tests prove that a burst of messages to one connection is
//! coalesced into few writes.

use prometheus_client::metrics::counter::Counter;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An I/O object whose successful `poll_write` / `poll_write_vectored` calls are counted.
#[derive(Debug)]
pub(crate) struct CountingIo<T> {
    inner: T,
    writes: Counter,
}

impl<T> CountingIo<T> {
    pub(crate) fn new(inner: T, writes: Counter) -> Self {
        CountingIo { inner, writes }
    }

    fn count(&self, r: &Poll<io::Result<usize>>) {
        if matches!(r, Poll::Ready(Ok(n)) if *n > 0) {
            self.writes.inc();
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.count(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.count(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn counts_completed_writes_only() {
        let writes = Counter::default();
        let (a, _b) = tokio::io::duplex(1024);
        let mut io = CountingIo::new(a, writes.clone());
        io.write_all(b"hello").await.unwrap();
        io.write_all(b"").await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(writes.get(), 1);
    }
}
