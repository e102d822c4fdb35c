//! COMPRESS=DEFLATE (RFC 4978): a raw-deflate (no zlib header) wrapper
//! around any stream. Every flush ends with a sync flush so each response
//! reaches the client without waiting for more data (RFC 4978 §4).
//! Hand-written on flate2's `Compress`/`Decompress` because the poll logic
//! is small and this avoids a second async compression crate.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A deflate-compressed duplex stream.
#[derive(Debug)]
pub struct Deflate<S> {
    inner: S,
    comp: Compress,
    decomp: Decompress,
    /// Compressed bytes waiting to be written.
    out: Vec<u8>,
    out_pos: usize,
    /// Compressed bytes read but not yet inflated.
    input: Vec<u8>,
    in_pos: usize,
    eof: bool,
    /// Data was written since the last sync flush.
    pending_sync: bool,
}

impl<S> Deflate<S> {
    /// Wraps `inner`; everything from now on is compressed both ways.
    pub fn new(inner: S) -> Self {
        Deflate {
            inner,
            comp: Compress::new(Compression::new(6), false),
            decomp: Decompress::new(false),
            out: Vec::new(),
            out_pos: 0,
            input: vec![0; 16 * 1024],
            in_pos: 0,
            eof: false,
            pending_sync: false,
        }
    }
}

fn deflate(
    comp: &mut Compress,
    mut data: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> io::Result<()> {
    loop {
        out.reserve(data.len() / 2 + 256);
        let before_in = comp.total_in();
        let before_out = out.len();
        comp.compress_vec(data, out, flush)
            .map_err(io::Error::other)?;
        let used = (comp.total_in() - before_in) as usize;
        data = &data[used..];
        // Done when all input is consumed and the output had room to spare
        // (so a sync flush is complete).
        if data.is_empty() && out.len() < out.capacity() {
            return Ok(());
        }
        if used == 0 && out.len() == before_out && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.len() - this.out_pos > 256 * 1024 {
            ready!(this.drain(cx))?;
        }
        deflate(&mut this.comp, buf, &mut this.out, FlushCompress::None)?;
        this.pending_sync = true;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending_sync {
            deflate(&mut this.comp, &[], &mut this.out, FlushCompress::Sync)?;
            this.pending_sync = false;
        }
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.in_pos > 0 || this.eof {
                let before_in = this.decomp.total_in();
                let before_out = this.decomp.total_out();
                let dst = buf.initialize_unfilled();
                let status = this
                    .decomp
                    .decompress(&this.input[..this.in_pos], dst, FlushDecompress::Sync)
                    .map_err(io::Error::other)?;
                let used = (this.decomp.total_in() - before_in) as usize;
                let produced = (this.decomp.total_out() - before_out) as usize;
                this.input.copy_within(used..this.in_pos, 0);
                this.in_pos -= used;
                buf.advance(produced);
                if produced > 0 || status == Status::StreamEnd {
                    return Poll::Ready(Ok(()));
                }
                if this.eof {
                    return Poll::Ready(Ok(()));
                }
            }
            if this.in_pos == this.input.len() {
                this.input.resize(this.input.len() * 2, 0);
            }
            let mut rb = ReadBuf::new(&mut this.input[this.in_pos..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                this.eof = true;
            }
            this.in_pos += n;
        }
    }
}
