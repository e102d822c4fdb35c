//! The login cache of `DirectoryAuth`.

use outpost_directory::{Directory, NewUser};
use outpost_webd::auth::{Authenticator, DirectoryAuth};

/// #15: the login cache (300 s) let a disabled user, an old password and
/// a locked-out source in again; each must take effect at once.
#[test]
fn login_cache_honours_disable_password_change_and_lockout() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("directory");
    let (user, pass) = ("alice@outpost.lan", "correct horse 1");
    Directory::open(&path)
        .unwrap()
        .add_user(&NewUser::new(user, pass))
        .unwrap();
    let open = || Directory::open(&path).unwrap();
    let auth = DirectoryAuth::new(&path);
    let me = Some("198.51.100.7");
    // Cached now.
    assert_eq!(auth.authenticate(user, pass, me).as_deref(), Some(user));
    assert_eq!(auth.authenticate(user, pass, me).as_deref(), Some(user));
    open().set_enabled(user, false).unwrap();
    assert_eq!(auth.authenticate(user, pass, me), None);
    open().set_enabled(user, true).unwrap();
    assert_eq!(auth.authenticate(user, pass, me).as_deref(), Some(user));
    open().set_password(user, "a new password").unwrap();
    assert_eq!(auth.authenticate(user, pass, me), None);
    assert_eq!(
        auth.authenticate(user, "a new password", me).as_deref(),
        Some(user)
    );
    // Five failures (the default) lock this source out of the account;
    // the cached right password is refused as well.
    for _ in 0..5 {
        assert_eq!(auth.authenticate(user, "wrong", me), None);
    }
    assert_eq!(auth.authenticate(user, "a new password", me), None);
    assert_eq!(
        auth.authenticate(user, "a new password", Some("198.51.100.8"))
            .as_deref(),
        Some(user),
        "another source is not locked out"
    );
}
