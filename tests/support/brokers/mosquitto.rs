//! (filled in by the mosquitto work)
