//! Where the address allocator continues: absent until saved, then the last value saved.

use crate::support::{conformance, TestDb};

conformance!(the_address_cursor_is_absent_until_saved_then_the_last_saved);

async fn the_address_cursor_is_absent_until_saved_then_the_last_saved(db: TestDb) {
    assert_eq!(db.store.get_address_cursor().await.unwrap(), None);

    db.store.put_address_cursor(7).await.unwrap();
    assert_eq!(db.store.get_address_cursor().await.unwrap(), Some(7));

    // Saving again replaces the single row, whichever way the cursor moved (it wraps).
    db.store.put_address_cursor(4_194_302).await.unwrap();
    assert_eq!(db.store.get_address_cursor().await.unwrap(), Some(4_194_302));
    db.store.put_address_cursor(1).await.unwrap();
    assert_eq!(db.store.get_address_cursor().await.unwrap(), Some(1));
}
