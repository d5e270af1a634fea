//! `send-floor`: what one message to N loopback TCP receivers costs the sending core, with no
//! server around it: the floor under any relay's fan-out (scripts/bench-relay.sh prints it
//! beside the servers). Two ways of sending, in the same run:
//!
//! - `writev`: one non-blocking `writev` per receiver per message (what the relay does);
//! - io_uring: the N sends of a message as one submission, `MSG_DONTWAIT`: `IORING_OP_SENDMSG`
//!   of the pieces; `IORING_OP_SEND` of the pieces joined into one buffer; the same on
//!   sockets registered with the ring (no file lookup per send).
//!
//! ```text
//! send-floor [--receivers 1000] [--seconds 5] [--bytes 2800] [--rate 25] [--sender-cpu 0] [--receiver-cpu 1]
//! ```
//!
//! The sending thread's CPU (user + system, from `getrusage(RUSAGE_THREAD)`, which on these
//! kernels includes the loopback receive processing the send runs in softirq) is divided by
//! the sends. Receivers drain on another core.

use std::io::{IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    receivers: usize,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Bytes per message (a 600 kbit/s video stream's average frame: ~2,800).
    #[arg(long, default_value_t = 2800)]
    bytes: usize,
    /// Messages a second.
    #[arg(long, default_value_t = 25)]
    rate: u64,
    #[arg(long, default_value_t = 0)]
    sender_cpu: usize,
    #[arg(long, default_value_t = 1)]
    receiver_cpu: usize,
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn thread_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// N connected pairs: the sending ends (non-blocking) and the receiving ends.
fn pairs(n: usize) -> (Vec<TcpStream>, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (mut senders, mut receivers) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let receiver = TcpStream::connect(addr).expect("connect");
        let (sender, _) = listener.accept().expect("accept");
        sender.set_nodelay(true).expect("nodelay");
        sender.set_nonblocking(true).expect("non-blocking");
        senders.push(sender);
        receivers.push(receiver);
    }
    (senders, receivers)
}

/// Drains every receiver on `cpu` until the senders close.
fn drain(receivers: Vec<TcpStream>, cpu: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        pin(cpu);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut tasks = Vec::new();
            for r in receivers {
                r.set_nonblocking(true).expect("non-blocking");
                let mut r = tokio::net::TcpStream::from_std(r).expect("register");
                tasks.push(tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; 64 * 1024];
                    while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
    })
}

/// Sends `rate` messages a second for `seconds` to every sender with `send_all`; CPU µs per
/// send.
fn run(args: &Args, senders: &[TcpStream], send_all: &mut dyn FnMut(&[TcpStream], &[u8])) -> f64 {
    let message = vec![0x27u8; args.bytes];
    let interval = Duration::from_secs(1) / args.rate as u32;
    let count = args.seconds * args.rate;
    let before = thread_cpu();
    let start = Instant::now();
    for i in 0..count {
        send_all(senders, &message);
        let due = start + interval * (i as u32 + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let cpu = thread_cpu() - before;
    cpu.as_secs_f64() * 1e6 / (count * senders.len() as u64) as f64
}

/// `head` and `message` copied into `buf`, as one buffer to send: its address and length.
fn join(buf: &mut Vec<u8>, head: &[u8], message: &[u8]) -> (*const u8, u32) {
    buf.clear();
    buf.extend_from_slice(head);
    buf.extend_from_slice(message);
    (buf.as_ptr(), buf.len() as u32)
}

fn main() {
    let args = Args::parse();
    pin(args.sender_cpu);
    let (senders, receivers) = pairs(args.receivers);
    let drained = drain(receivers, args.receiver_cpu);
    std::thread::sleep(Duration::from_millis(300));
    let head = [0u8; 12];

    let mut blocked = 0u64;
    let writev_us = run(&args, &senders, &mut |senders, message| {
        for mut s in senders {
            let slices = [IoSlice::new(&head), IoSlice::new(message)];
            match s.write_vectored(&slices) {
                Ok(n) if n == head.len() + message.len() => {}
                _ => blocked += 1,
            }
        }
    });

    let mut ring = io_uring::IoUring::new(4096).expect("io_uring");
    let mut short = 0u64;
    let whole = (head.len() + args.bytes) as i32;
    // Pushes one entry per sender (`entry(i)`), submits and reaps a ring's worth at a time.
    let mut submit = |ring: &mut io_uring::IoUring,
                      n: usize,
                      entry: &dyn Fn(usize) -> io_uring::squeue::Entry| {
        for start in (0..n).step_by(4096) {
            let end = (start + 4096).min(n);
            for i in start..end {
                // SAFETY: what the entry points at outlives the submission, waited for below.
                unsafe { ring.submission().push(&entry(i)).expect("room in the ring") };
            }
            ring.submit_and_wait(end - start).expect("submit");
            for done in ring.completion() {
                if done.result() != whole {
                    short += 1;
                }
            }
        }
    };
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    let fds: Vec<i32> = senders.iter().map(|s| s.as_raw_fd()).collect();

    // SENDMSG: a message's iovecs (header and payload) per entry, as the relay sends.
    let sendmsg_us = run(&args, &senders, &mut |senders, message| {
        let slices = [
            libc::iovec {
                iov_base: head.as_ptr() as *mut _,
                iov_len: head.len(),
            },
            libc::iovec {
                iov_base: message.as_ptr() as *mut _,
                iov_len: message.len(),
            },
        ];
        // SAFETY: an all-zero msghdr is a valid empty one; it then points at the iovecs.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = slices.as_ptr() as *mut _;
        header.msg_iovlen = slices.len();
        let header = &header;
        submit(&mut ring, senders.len(), &|i| {
            io_uring::opcode::SendMsg::new(io_uring::types::Fd(fds[i]), header)
                .flags(flags as u32)
                .build()
        });
    });

    // SEND of one contiguous buffer (the message's pieces copied together once).
    let mut joined = Vec::new();
    let send_us = run(&args, &senders, &mut |senders, message| {
        let (ptr, len) = join(&mut joined, &head, message);
        submit(&mut ring, senders.len(), &|i| {
            io_uring::opcode::Send::new(io_uring::types::Fd(fds[i]), ptr, len)
                .flags(flags)
                .build()
        });
    });

    // The same with the sockets registered with the ring (no file lookup per send).
    ring.submitter()
        .register_files(&fds)
        .expect("register the sockets");
    let fixed_us = run(&args, &senders, &mut |senders, message| {
        let (ptr, len) = join(&mut joined, &head, message);
        submit(&mut ring, senders.len(), &|i| {
            io_uring::opcode::Send::new(io_uring::types::Fixed(i as u32), ptr, len)
                .flags(flags)
                .build()
        });
    });
    let _ = ring.submitter().unregister_files();

    drop(senders);
    let _ = drained.join();
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{} receivers, {} B at {}/s, CPU per send: writev {writev_us:.2} µs ({blocked} short); \
         io_uring sendmsg {sendmsg_us:.2} µs ({:.2}×), send {send_us:.2} µs ({:.2}×), \
         send on registered sockets {fixed_us:.2} µs ({:.2}×) ({short} short)",
        args.receivers,
        args.bytes,
        args.rate,
        sendmsg_us / writev_us,
        send_us / writev_us,
        fixed_us / writev_us,
    );
    let _ = std::io::stdin().read(&mut [0u8; 0]);
}
