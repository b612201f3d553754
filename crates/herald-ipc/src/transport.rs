//! The byte streams under the protocol: a Unix socket (Linux, macOS) or a
//! named pipe (Windows), and who may connect.
//!
//! Only the agent's own user may talk to it. The socket is created mode 0600
//! in a 0700 directory, but file modes do not stop root, nor a directory
//! someone loosened by hand, so every accepted peer's uid is also checked
//! (`SO_PEERCRED` / `getpeereid`, through tokio).

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::endpoint::Endpoint;

/// A connected peer's stream.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

/// Who connected, as far as the agent is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The agent's own user.
    Owner,
    /// Another user (its uid): refused.
    Foreign(u32),
}

#[cfg(unix)]
mod imp {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use tokio::net::{UnixListener, UnixStream};

    #[derive(Debug)]
    pub struct Listener {
        inner: UnixListener,
        uid: u32,
    }

    impl Listener {
        /// Binds the socket. The caller holds the engine lock, so a socket
        /// file already there belongs to a dead agent and is removed.
        pub fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
            if let Some(dir) = endpoint.socket.parent() {
                std::fs::create_dir_all(dir)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            match std::fs::remove_file(&endpoint.socket) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let inner = UnixListener::bind(&endpoint.socket)?;
            std::fs::set_permissions(&endpoint.socket, std::fs::Permissions::from_mode(0o600))?;
            Ok(Listener {
                inner,
                uid: rustix::process::getuid().as_raw(),
            })
        }

        pub async fn accept(&mut self) -> io::Result<(BoxStream, Peer)> {
            let (stream, _) = self.inner.accept().await?;
            let peer = match stream.peer_cred() {
                Ok(cred) if cred.uid() == self.uid => Peer::Owner,
                Ok(cred) => Peer::Foreign(cred.uid()),
                // No credentials: treat as a stranger.
                Err(_) => Peer::Foreign(u32::MAX),
            };
            Ok((Box::new(stream), peer))
        }
    }

    pub async fn connect(endpoint: &Endpoint) -> io::Result<BoxStream> {
        Ok(Box::new(UnixStream::connect(&endpoint.socket).await?))
    }
}

#[cfg(windows)]
mod imp {
    use super::*;
    use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeServer, ServerOptions};

    /// A named pipe. Its default security descriptor grants full access to
    /// the creating user, administrators and LocalSystem, and read access
    /// alone to everyone else, which cannot send a request; remote clients
    /// are rejected. So every peer that can make a call is the owner.
    #[derive(Debug)]
    pub struct Listener {
        name: String,
        next: NamedPipeServer,
    }

    impl Listener {
        pub fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
            let name = endpoint.socket.to_string_lossy().into_owned();
            let next = ServerOptions::new()
                .first_pipe_instance(true)
                .reject_remote_clients(true)
                .create(&name)?;
            Ok(Listener { name, next })
        }

        pub async fn accept(&mut self) -> io::Result<(BoxStream, Peer)> {
            self.next.connect().await?;
            let fresh = ServerOptions::new()
                .reject_remote_clients(true)
                .create(&self.name)?;
            let connected = std::mem::replace(&mut self.next, fresh);
            Ok((Box::new(connected), Peer::Owner))
        }
    }

    /// `ERROR_PIPE_BUSY`: every instance of the pipe is taken, which is
    /// also what a client sees while the agent makes the next instance.
    const ERROR_PIPE_BUSY: i32 = 231;
    /// How long a connect keeps trying a busy pipe, and how often.
    const BUSY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
    const BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

    pub async fn connect(endpoint: &Endpoint) -> io::Result<BoxStream> {
        let name = endpoint.socket.to_string_lossy().into_owned();
        let deadline = tokio::time::Instant::now() + BUSY_PATIENCE;
        loop {
            match ClientOptions::new().open(&name) {
                Ok(pipe) => return Ok(Box::new(pipe)),
                // Windows' documented answer to a busy pipe is to try again
                // (WaitNamedPipe blocks a thread; this does not).
                Err(e)
                    if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

pub use imp::{Listener, connect};
