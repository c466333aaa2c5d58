// Package sftp is the destination backend of a folder on an SFTP server
// (OpenSSH's sftp-server or internal-sftp, and others that speak SFTP
// version 3), through github.com/pkg/sftp over golang.org/x/crypto/ssh.
//
// Trust: the server's host key is checked against a known_hosts file
// (~/.ssh/known_hosts unless the config names another); an unknown or
// changed key is refused with a sentence that says how to check and add
// it — never accepted on first use. Login is by key: the agent at
// SSH_AUTH_SOCK and the unencrypted keys ~/.ssh/id_ed25519, id_ecdsa and
// id_rsa, or the key file the config names. Passwords are not taken.
//
// Atomic writes: a file goes to a temp file beside its name
// (.name.copyd-<random>.tmp), is flushed with fsync@openssh.com where the
// server offers it, gets its mode and modification time, and is renamed
// over the name with posix-rename@openssh.com, so the name holds the old
// file or the new one, never a part. A server without that extension
// refuses a plain SFTP rename onto an existing name; copyd then removes
// the old file and renames the temp file at once: for that moment the
// name holds nothing, never something incomplete.
//
// Metadata: modification times have whole seconds (SFTP version 3 sends
// them as 32-bit seconds, so times after 2106 are refused with
// dest.ErrUnsupported); modes are kept; owners are the login user's;
// symlinks are native, but their own times and modes are not set: SFTP's
// setstat follows a symlink, and copyd never writes through one.
//
// Connections: one SSH connection per destination, its SFTP session used
// by all workers at once (requests are pipelined), dialled again after
// it drops; a dropped connection is a transient error (dest.Transient),
// which the engine retries with back-off.
package sftp
