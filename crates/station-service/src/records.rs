//! Changes to the station's records that every face makes the same way: batches and
//! `provision` lease their ids before minting, and every change names the operator by the one
//! precedence of [`crate::operator`].

use station_core::{
    BatchProgress, BatchRequest, CreatedBatch, Device, EndedBatch, IssuedCredentials, Result, Store,
};

use crate::ids::{self, IdSource};
use crate::operator;

/// A batch of exactly `count` devices, credentials issued at flash time, ids leased first.
pub fn create_batch(
    store: &mut Store,
    request: &BatchRequest,
    operator: Option<&str>,
) -> Result<(BatchProgress, IdSource)> {
    let (created, source) = create(store, request, false, operator)?;
    Ok((store.find_batch(created.batch.id)?, source))
}

/// `iot_provision`'s equivalent: exactly `count` devices with their credentials issued now
/// (the plaintext is in the result, once), ids leased first.
pub fn provision(
    store: &mut Store,
    request: &BatchRequest,
    operator: Option<&str>,
) -> Result<(CreatedBatch, IdSource)> {
    create(store, request, true, operator)
}

/// Lease the ids, then create the devices, credentials now or at flash time.
fn create(
    store: &mut Store,
    request: &BatchRequest,
    with_credentials: bool,
    operator: Option<&str>,
) -> Result<(CreatedBatch, IdSource)> {
    let actor = operator::actor(store, operator)?;
    let source = ids::prepare(store, &request.device_type, &request.prefix, request.count)?;
    let request = BatchRequest {
        with_credentials,
        ..request.clone()
    };
    Ok((store.create_batch(&request, &actor)?, source))
}

/// Close a batch: it issues no more devices; its unflashed devices stay as they are (listed in
/// the result) and can still be flashed one by one.
pub fn close_batch(store: &mut Store, batch_id: i64, operator: Option<&str>) -> Result<EndedBatch> {
    let actor = operator::actor(store, operator)?;
    store.close_batch(batch_id, &actor)
}

/// Cancel a batch (the face asked for a confirmation first): it issues no more devices; its
/// unflashed devices are deactivated, never deleted; its flashed devices stay in force. The
/// server never held the unflashed ones, so nothing about them is sent; a device the server
/// does hold is deactivated through the outbox as [`deactivate`] does.
pub fn cancel_batch(
    store: &mut Store,
    batch_id: i64,
    reason: &str,
    operator: Option<&str>,
) -> Result<EndedBatch> {
    let actor = operator::actor(store, operator)?;
    store.cancel_batch(batch_id, &actor, reason.trim())
}

/// Block a device for good (django-devicehub's is_active = False); the record stays.
pub fn deactivate(
    store: &mut Store,
    device_id: &str,
    reason: &str,
    operator: Option<&str>,
) -> Result<Device> {
    let actor = operator::actor(store, operator)?;
    store.deactivate(device_id, &actor, reason.trim())
}

/// Issue a new generation now, handing the plaintext to `deliver` (write it out, flush, check)
/// before the generation is committed: if `deliver` fails, the generation in force stays.
pub fn rotate_now(
    store: &mut Store,
    device_id: &str,
    operator: Option<&str>,
    deliver: impl FnOnce(&IssuedCredentials) -> Result<()>,
) -> Result<IssuedCredentials> {
    let actor = operator::actor(store, operator)?;
    store.rotate_now_delivered(device_id, &actor, deliver)
}
