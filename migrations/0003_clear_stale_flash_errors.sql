-- DeviceHub Station schema, version 3: a flashed device carries no flash_error.
-- Append-only: never edit a released migration, add the next numbered file instead.
--
-- A device's flash_error says why its last flash did not take, so the line knows what to do
-- with a unit that holds no working credentials. A flashed device holds working credentials:
-- a later flash that failed (a rotation the unit refused, a crash mid-write) leaves it with the
-- generation it had, and that attempt stays in its history (device_events), not on the device.
-- Stations before this version did not clear the error when a flash was confirmed, so crash
-- trials found flashed devices still showing an old error as if they were broken. The store
-- now clears it whenever a flash settles; this clears what older stations left behind.
-- Only the error goes: state, generation, updated_at and history are untouched, and nothing is
-- queued for the server, which never receives flash_error. A failed device keeps its error.
UPDATE devices SET flash_error = NULL
WHERE flash_state = 'flashed' AND flash_error IS NOT NULL;
