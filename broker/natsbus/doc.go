// Package natsbus connects the loop to NATS: an embedded nats-server for the
// no-setup default, the outbox relay that publishes events after commit, and
// the control service that operators reach with oodactl.
//
// Events are at least once: the relay publishes an outbox row, then deletes
// it; a crash in between publishes it again, with the same Nats-Msg-Id, which
// JetStream's duplicate window drops and which subscribers can dedupe on.
// NATS being down delays events and loses none: the rows wait in the outbox.
package natsbus
