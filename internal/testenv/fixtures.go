package testenv

import "github.com/clerksync/clerksync"

// UserFixtures names each Clerk event fixture in testdata/ (copied from
// shared/fixtures/clerk) with its event type.
var UserFixtures = map[string]string{
	"01-user.created.clerk-docs-example.json":     clerksync.UserCreated,
	"02-user.created.real-2025-email-code.json":   clerksync.UserCreated,
	"10-user.created.openapi-example.json":        clerksync.UserCreated,
	"11-user.updated.openapi-example.json":        clerksync.UserUpdated,
	"12-user.deleted.openapi-example.json":        clerksync.UserDeleted,
	"20-user.created.composed-multi-contact.json": clerksync.UserCreated,
	"21-user.updated.composed-multi-contact.json": clerksync.UserUpdated,
	"22-user.deleted.composed.json":               clerksync.UserDeleted,
	"23-user.deleted.minimal-pre-2025-11.json":    clerksync.UserDeleted,
}
