//! Logged-out sessions.

use super::*;

pub async fn logout_revokes_sessions_issued_up_to_a_moment_and_never_moves_back(
    store: Arc<dyn RoomStore>,
) {
    let keep = T0 / 1000 + 100;
    assert_eq!(store.sessions_revoked_through("u1", T0).await.unwrap(), 0);
    assert!(store.revoke_sessions("u1", T0 - 5_000, keep).await.unwrap());
    assert_eq!(
        store.sessions_revoked_through("u1", T0).await.unwrap(),
        T0 - 5_000
    );
    // An older token logging out later revokes nothing new.
    assert!(store.revoke_sessions("u1", T0 - 9_000, keep).await.unwrap());
    assert_eq!(
        store.sessions_revoked_through("u1", T0).await.unwrap(),
        T0 - 5_000
    );
    assert_eq!(store.sessions_revoked_through("u2", T0).await.unwrap(), 0);
    // Once every revoked token has expired, the revocation is gone.
    let later = T0 + 101_000;
    store.sweep(later).await.unwrap();
    assert_eq!(
        store.sessions_revoked_through("u1", later).await.unwrap(),
        0
    );
}
