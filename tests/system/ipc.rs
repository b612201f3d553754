//! The agent's socket against peers that break the protocol, peers of
//! another user, and too many peers: each gets one error line saying why (or
//! not even a connection), and a well-behaved front-end beside them never
//! notices. Raw bytes on a Unix socket, as a hostile program would send them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use herald_system_tests::agent::AgentProcess;
use herald_system_tests::client::Herald;
use herald_system_tests::{WAIT, wait_for};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long any one answer may take, attacks or not.
const ANSWER: Duration = Duration::from_secs(5);

/// The agent's side of one raw connection, line by line.
struct Reader(tokio::io::Lines<BufReader<OwnedReadHalf>>);

impl Reader {
    /// The next line as JSON; `None` at the end of the stream (EOF, or the
    /// reset a socket closed with unread input gives).
    async fn next(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(ANSWER, self.0.next_line())
            .await
            .expect("the agent answers in time")
            .ok()??;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }

    /// Asserts one error line of `kind` (for request `id`), then the end.
    async fn refused(&mut self, id: Value, kind: &str) -> Value {
        let error = self.next().await.expect("one error line");
        assert_eq!(error["id"], id, "{error}");
        assert_eq!(error["error"]["kind"], kind, "{error}");
        assert!(error["error"]["message"].is_string(), "{error}");
        assert_eq!(self.next().await, None, "the agent hangs up after {error}");
        error
    }
}

/// One raw connection to the agent.
struct Peer {
    read: Reader,
    write: OwnedWriteHalf,
}

impl Peer {
    async fn connect(socket: &Path) -> Peer {
        let stream = UnixStream::connect(socket)
            .await
            .expect("connect to the agent");
        let (read, write) = stream.into_split();
        Peer {
            read: Reader(BufReader::new(read).lines()),
            write,
        }
    }

    /// Writes a line. A refused peer may find the socket closed already:
    /// what the agent said before closing it is still there to read.
    async fn send(&mut self, line: &str) {
        let _ = self.write.write_all(format!("{line}\n").as_bytes()).await;
    }

    /// Sends a request and reads the next line, whatever it is.
    async fn ask(&mut self, id: u64, call: &str) -> Option<Value> {
        self.send(&json!({"v": 1, "id": id, "call": call}).to_string())
            .await;
        self.read.next().await
    }

    /// A request and its answer.
    async fn call(&mut self, id: u64, call: &str) -> Value {
        let answer = self.ask(id, call).await.expect("an answer");
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }
}

async fn agent() -> (Herald, AgentProcess) {
    let herald = Herald::new("ipc");
    let agent = AgentProcess::start(&herald).await;
    (herald, agent)
}

/// A line that is not JSON: `badFrame`, and the agent hangs up.
async fn garbage(socket: &Path) {
    let mut peer = Peer::connect(socket).await;
    peer.send("this is not JSON {{{").await;
    peer.read.refused(Value::Null, "badFrame").await;
}

/// A request of a protocol version from the future: `unsupportedVersion`.
async fn future_version(socket: &Path) {
    let mut peer = Peer::connect(socket).await;
    peer.send(r#"{"v":2,"id":7,"call":"status"}"#).await;
    let error = peer.read.refused(json!(7), "unsupportedVersion").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("version 1, not 2")),
        "{error}"
    );
}

/// Ten megabytes on one line, written while the answer is read: the agent
/// must refuse it without waiting for the end of the line.
async fn huge_line(socket: &Path) {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            if write.write_all(&chunk).await.is_err() {
                return false;
            }
        }
        write.write_all(b"\n").await.is_ok()
    });
    Reader(BufReader::new(read).lines())
        .refused(Value::Null, "tooLarge")
        .await;
    let wrote_it_all = writer.await.expect("the writer");
    assert!(!wrote_it_all, "the agent read ten megabytes of one line");
}

/// A call the agent does not have: an error for that call only, and the
/// connection goes on.
async fn unknown_call(socket: &Path, pid: u32) {
    let mut peer = Peer::connect(socket).await;
    let answer = peer.call(1, "format_the_disk").await;
    assert_eq!(answer["error"]["kind"], "unknownCall", "{answer}");
    let answer = peer.call(2, "hello").await;
    assert_eq!(answer["ok"]["pid"], json!(pid), "{answer}");
    let answer = peer.call(3, "status").await;
    assert!(answer["ok"]["label"].is_string(), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_breakers_get_one_error_line_and_a_good_client_never_notices() {
    let (herald, agent) = agent().await;
    let socket = herald.agent_socket();

    // The well-behaved front-end: `status`, over and over, each answered in time.
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let good = tokio::spawn({
        let (socket, answered, stop) = (socket.clone(), answered.clone(), stop.clone());
        async move {
            let mut peer = Peer::connect(&socket).await;
            // A pace, not a wait: a front-end asks a few times a second, this one a hundred.
            let mut pace = tokio::time::interval(Duration::from_millis(10));
            let mut id = 0;
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                id += 1;
                let answer = peer.call(id, "status").await;
                assert_eq!(answer["ok"]["state"]["kind"], "signedOut", "{answer}");
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    wait_for("the first answers", WAIT, || async {
        (answered.load(Ordering::Relaxed) >= 5).then_some(())
    })
    .await;
    let before = answered.load(Ordering::Relaxed);

    // Rounds of all four attacks at once, until the good client has been
    // answered twenty times while they ran.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut rounds = 0;
    while answered.load(Ordering::Relaxed) < before + 20 {
        assert!(tokio::time::Instant::now() < deadline, "{rounds} rounds");
        tokio::join!(
            garbage(&socket),
            future_version(&socket),
            huge_line(&socket),
            unknown_call(&socket, agent.pid),
        );
        rounds += 1;
    }

    // And after: still answered.
    let after = answered.load(Ordering::Relaxed);
    wait_for("answers after the attacks", WAIT, || async {
        (answered.load(Ordering::Relaxed) >= after + 10).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    good.await
        .expect("every answer came in time and said the truth");
}

/// Runs `python3` as the user `nobody`: connect to `socket`, send one
/// request, print what comes back; exit 3 when the connect is refused for
/// want of permission.
fn as_nobody(socket: &Path) -> (Option<i32>, String) {
    const SCRIPT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except PermissionError as e:
    print("EACCES", e)
    sys.exit(3)
data = b""
try:
    # The agent may refuse before reading: then this write finds it gone.
    s.sendall(b'{"v":1,"id":1,"call":"status"}\n')
except (BrokenPipeError, ConnectionResetError):
    pass
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except ConnectionResetError:
    pass
sys.stdout.write(data.decode())
"#;
    let output = std::process::Command::new("/usr/sbin/runuser")
        .args(["-u", "nobody", "--", "/usr/bin/python3", "-c", SCRIPT])
        .arg(socket)
        .output()
        .expect("runuser");
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), said)
}

#[tokio::test]
async fn another_user_cannot_reach_the_socket_and_is_refused_even_when_the_modes_allow() {
    assert!(
        Path::new("/usr/sbin/runuser").exists() && rustix::process::getuid().is_root(),
        "this test runs as root, with runuser, to play another user"
    );
    let (herald, _agent) = agent().await;
    let socket = herald.agent_socket();
    use std::os::unix::fs::PermissionsExt;
    // Everything above the socket's directory is open to all, as /tmp is.
    std::fs::set_permissions(&herald.root, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the user's root");

    // The socket's directory is the owner's alone.
    let (code, said) = as_nobody(&socket);
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("EACCES"), "{said}");

    // Loosened by hand, the modes let `nobody` connect; the agent still
    // checks who is at the other end.
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(herald.runtime_dir(), open.clone()).expect("chmod the dir");
    std::fs::set_permissions(&socket, open).expect("chmod the socket");
    let (code, said) = as_nobody(&socket);
    assert_eq!(code, Some(0), "{said}");
    let lines: Vec<Value> = said
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {said}")))
        .collect();
    assert_eq!(lines.len(), 1, "one line, then the agent hangs up: {said}");
    assert_eq!(lines[0]["id"], Value::Null, "{said}");
    assert_eq!(lines[0]["error"]["kind"], "forbidden", "{said}");

    // Its own user is served as before.
    let mut peer = Peer::connect(&socket).await;
    let answer = peer.call(1, "status").await;
    assert!(answer["ok"].is_object(), "{answer}");
}

#[tokio::test]
async fn the_sixty_fifth_connection_is_told_the_agent_is_busy() {
    const MAX: usize = 64;
    let (herald, _agent) = agent().await;
    let socket = herald.agent_socket();
    // 64 served connections (a connection just closed may hold its slot for
    // a moment, so one refused on the way is tried again).
    let mut served: Vec<Peer> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while served.len() < MAX {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} connections served",
            served.len()
        );
        let mut peer = Peer::connect(&socket).await;
        let answer = peer.ask(1, "hello").await.expect("an answer");
        if answer["error"]["kind"] == "busy" {
            tokio::task::yield_now().await;
            continue;
        }
        assert!(answer["ok"]["pid"].is_u64(), "{answer}");
        served.push(peer);
    }

    let mut refused = Peer::connect(&socket).await;
    refused.read.refused(Value::Null, "busy").await;
    // The 64 are still served.
    for (n, peer) in served.iter_mut().enumerate() {
        let answer = peer.call(2, "status").await;
        assert!(answer["ok"].is_object(), "connection {n}: {answer}");
    }
    // One leaves: its slot is free again.
    drop(served.pop());
    wait_for("a slot to free", WAIT, || {
        let socket = socket.clone();
        async move {
            let mut peer = Peer::connect(&socket).await;
            let answer = peer.ask(1, "hello").await?;
            answer["ok"].is_object().then_some(peer)
        }
    })
    .await;
}
