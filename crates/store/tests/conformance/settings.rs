//! Tailnet settings: defaults until saved, then what was saved.

use keygate_domain::TailnetSettings;

use crate::support::{conformance, TestDb};

conformance!(settings_are_the_defaults_until_saved);

async fn settings_are_the_defaults_until_saved(db: TestDb) {
    assert_eq!(db.store.get_settings().await.unwrap(), TailnetSettings::default());

    let strict = TailnetSettings { device_approval: true, node_key_expiry_days: 7 };
    db.store.put_settings(&strict).await.unwrap();
    assert_eq!(db.store.get_settings().await.unwrap(), strict);

    // Saving again replaces the single row.
    let relaxed = TailnetSettings { device_approval: false, node_key_expiry_days: 90 };
    db.store.put_settings(&relaxed).await.unwrap();
    assert_eq!(db.store.get_settings().await.unwrap(), relaxed);
}
