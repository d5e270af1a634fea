//! One message to many sockets in one system call: the sends of a pass as `IORING_OP_SENDMSG`
//! entries of one io_uring submission, each with `MSG_DONTWAIT` so that none waits for room
//! (a full socket completes at once with `EAGAIN`, and its player is parked as after a short
//! `writev`). Measured against one non-blocking `writev` per player (`examples/send-floor`,
//! BENCHMARKS.md), it takes a fifth off the cost of a send here, most of it the system call
//! and the VFS layer each `writev` goes through.
//!
//! Every entry points at one `msghdr` and one iovec array, both kept here and alive until
//! the submission has completed: the call waits for every entry's completion before it
//! returns, so nothing the kernel reads outlives its owner. Should the ring fail with entries
//! in flight, the bytes they point at and the ring itself are leaked, never freed under the
//! kernel, and the shard goes on with `writev`. Where io_uring cannot be set up
//! (a seccomp profile that forbids it, an old kernel, `RTCROOM_RELAY_IO_URING=off`), the shard
//! sends with `writev` instead.

use std::io;
use std::os::fd::RawFd;

use bytes::Bytes;
use io_uring::{IoUring, opcode, types};

/// Entries per submission (a ring's worth of sockets at a time).
const ENTRIES: u32 = 1024;
/// Tries of a submission the kernel answers with `EAGAIN`/`EBUSY` before the ring is given up.
const MAX_RETRIES: u32 = 100;
/// Iovecs one send may carry (Linux's `UIO_MAXIOV`).
pub(super) const MAX_PIECES: usize = 1024;

pub(super) struct Batch {
    ring: IoUring,
    iovecs: Vec<libc::iovec>,
    header: Box<libc::msghdr>,
}

impl Batch {
    /// A ring, checked to work with a no-op (a seccomp filter may let the setup through and
    /// refuse the submission).
    pub(super) fn new() -> io::Result<Self> {
        let mut ring = IoUring::new(ENTRIES)?;
        // SAFETY: a no-op entry points at nothing.
        unsafe { ring.submission().push(&opcode::Nop::new().build()) }
            .map_err(|_| io::Error::other("the ring has no room"))?;
        ring.submit_and_wait(1)?;
        ring.completion().for_each(drop);
        Ok(Self {
            ring,
            iovecs: Vec::with_capacity(MAX_PIECES),
            // SAFETY: an all-zero msghdr is a valid one, with no address, control data or
            // iovecs.
            header: Box::new(unsafe { std::mem::zeroed() }),
        })
    }

    /// Sends `pieces` (at most [`MAX_PIECES`]) to every socket of `fds` without waiting for
    /// room: `out[i]` is what socket `i` took, or its error (`WouldBlock` when it took
    /// nothing). An error is the ring's own: the caller must then [`Batch::abandon`] it.
    pub(super) fn send(
        &mut self,
        pieces: &[Bytes],
        fds: &[RawFd],
        out: &mut Vec<io::Result<usize>>,
    ) -> io::Result<()> {
        debug_assert!(pieces.len() <= MAX_PIECES);
        self.iovecs.clear();
        self.iovecs.extend(pieces.iter().map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        }));
        self.header.msg_iov = self.iovecs.as_mut_ptr();
        self.header.msg_iovlen = self.iovecs.len() as _;
        let header: *const libc::msghdr = &*self.header;
        out.clear();
        out.resize_with(fds.len(), || Ok(0));
        for (chunk_at, chunk) in fds.chunks(ENTRIES as usize).enumerate() {
            let base = chunk_at * ENTRIES as usize;
            {
                let mut queue = self.ring.submission();
                for (i, &fd) in chunk.iter().enumerate() {
                    let entry = opcode::SendMsg::new(types::Fd(fd), header)
                        .flags((libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as u32)
                        .build()
                        .user_data((base + i) as u64);
                    // SAFETY: the msghdr, the iovecs and the bytes they point at (`pieces`,
                    // borrowed for this call) stay put until every entry has completed below.
                    unsafe { queue.push(&entry) }
                        .map_err(|_| io::Error::other("the ring has no room"))?;
                }
            }
            let (mut done, mut retries) = (0, 0);
            while done < chunk.len() {
                match self.ring.submit_and_wait(chunk.len() - done) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // Transient (no memory for a moment, completions not yet reaped): the
                    // entries are still queued, so try again rather than give the ring up.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY))
                            && retries < MAX_RETRIES =>
                    {
                        retries += 1;
                        std::thread::yield_now();
                        continue;
                    }
                    // Entries may still be in flight: their bytes must never be freed.
                    Err(e) => {
                        std::mem::forget(pieces.to_vec());
                        return Err(e);
                    }
                }
                for completion in self.ring.completion() {
                    done += 1;
                    let result = completion.result();
                    out[completion.user_data() as usize] = if result >= 0 {
                        Ok(result as usize)
                    } else {
                        Err(io::Error::from_raw_os_error(-result))
                    };
                }
            }
        }
        Ok(())
    }

    /// Stops using a ring that failed: leaked with its iovecs and header, which entries in
    /// flight may still read.
    pub(super) fn abandon(self) {
        std::mem::forget(self);
    }
}
