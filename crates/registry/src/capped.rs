//! A writer that accepts at most a fixed number of bytes and fails on more.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

pub struct CappedWriter<W> {
    inner: W,
    remaining: u64,
}

impl<W> CappedWriter<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        Self {
            inner,
            remaining: limit,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for CappedWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.len() as u64 > self.remaining {
            return Poll::Ready(Err(io::Error::other(
                "the registry sent more bytes than the manifest declares",
            )));
        }
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.remaining -= written as u64;
        Poll::Ready(Ok(written))
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
    async fn refuses_bytes_beyond_the_limit() {
        let mut out = CappedWriter::new(Vec::new(), 4);
        out.write_all(b"abcd").await.unwrap();
        assert!(out.write_all(b"e").await.is_err());
        assert_eq!(out.inner, b"abcd");
    }
}
