//! The `address_cursor` table: where the service's tailnet address allocator continues, in a
//! single row with `id = 1`, absent until the first node deletion saves it.
//!
//! The value is an offset into the address pool (`keygate_domain::ip_pool`); what it means and
//! when it is written is the allocator's business (`crates/service/src/ip_allocator.rs`).

use crate::conn::Conn;
use crate::StoreError;

const SELECT: &str = "SELECT next_offset FROM address_cursor WHERE id = 1";
const UPSERT: &str = "INSERT INTO address_cursor (id, next_offset) VALUES (1, $1) \
     ON CONFLICT (id) DO UPDATE SET next_offset = excluded.next_offset";

pub(crate) async fn get<C: Conn>(c: &mut C) -> Result<Option<u32>, StoreError> {
    let row: Option<(i64,)> = c.fetch_optional(SELECT, &[]).await?;
    row.map(|(offset,)| {
        u32::try_from(offset).map_err(|e| {
            StoreError::corrupt("address_cursor", format_args!("next_offset {offset}: {e}"))
        })
    })
    .transpose()
}

pub(crate) async fn put<C: Conn>(c: &mut C, next_offset: u32) -> Result<(), StoreError> {
    c.execute(UPSERT, &[i64::from(next_offset).into()]).await?;
    Ok(())
}
