package clerkfake

import (
	"encoding/json"
	"fmt"
	"time"
)

// GenID is the id of the i-th generated user: "user_" and 27 characters, the
// length of Clerk's own ids.
func GenID(i int) string { return fmt.Sprintf("user_2gen%023d", i) }

// Epoch is the created_at of generated user 0; user i is created i seconds later.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// GenUser returns the i-th generated user as the Backend API returns one
// (about 2 KB, like a real user): one or two email addresses, a phone number
// for every third user, a Google account for every other one, metadata.
// updated is its updated_at; the zero time means an hour after creation.
func GenUser(i int, updated time.Time) []byte {
	id := GenID(i)
	created := Epoch.Add(time.Duration(i) * time.Second)
	if updated.IsZero() {
		updated = created.Add(time.Hour)
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	verification := func(strategy string) map[string]any {
		return map[string]any{"object": "verification_otp", "status": "verified", "strategy": strategy, "attempts": 1, "expire_at": nil}
	}
	emails := []map[string]any{{
		"id": fmt.Sprintf("idn_2gene%022d", i), "object": "email_address",
		"email_address": fmt.Sprintf("user%d@example.com", i), "reserved": false,
		"verification": verification("email_code"), "linked_to": []any{},
		"matches_sso_connection": false, "created_at": ms(created), "updated_at": ms(created),
	}}
	if i%2 == 1 {
		emails = append(emails, map[string]any{
			"id": fmt.Sprintf("idn_2genf%022d", i), "object": "email_address",
			"email_address": fmt.Sprintf("user%d.work@example.org", i), "reserved": false,
			"verification": map[string]any{"object": "verification_otp", "status": "unverified", "strategy": "email_code", "attempts": 0, "expire_at": ms(created) + 600000},
			"linked_to":    []any{}, "matches_sso_connection": false, "created_at": ms(created), "updated_at": ms(updated),
		})
	}
	var phones []map[string]any
	var primaryPhone any
	if i%3 == 0 {
		pid := fmt.Sprintf("idn_2genp%022d", i)
		primaryPhone = pid
		phones = append(phones, map[string]any{
			"id": pid, "object": "phone_number", "phone_number": fmt.Sprintf("+1415555%04d", i%10000),
			"reserved_for_second_factor": false, "default_second_factor": false, "reserved": false,
			"verification": verification("phone_code"), "linked_to": []any{}, "backup_codes": nil,
			"created_at": ms(created), "updated_at": ms(created),
		})
	}
	var accounts []map[string]any
	if i%2 == 0 {
		accounts = append(accounts, map[string]any{
			"object": "external_account", "id": fmt.Sprintf("eac_2gen%023d", i), "provider": "oauth_google",
			"identification_id": fmt.Sprintf("idn_2geng%022d", i), "provider_user_id": fmt.Sprintf("1049%017d", i),
			"approved_scopes": "email https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid profile",
			"email_address":   fmt.Sprintf("user%d@example.com", i), "first_name": "Gen", "last_name": fmt.Sprintf("User%d", i),
			"avatar_url": "https://lh3.googleusercontent.com/a/EXAMPLE=s1000-c", "image_url": "https://img.clerk.com/EXAMPLE-google",
			"username": nil, "phone_number": nil, "public_metadata": map[string]any{}, "label": nil,
			"created_at": ms(created), "updated_at": ms(created),
			"verification": map[string]any{"object": "verification_oauth", "status": "verified", "strategy": "oauth_google", "attempts": nil, "expire_at": ms(created) + 600000},
		})
	}
	u := map[string]any{
		"id": id, "object": "user", "external_id": nil, "username": nil,
		"first_name": "Gen", "last_name": fmt.Sprintf("User%d", i), "locale": nil,
		"image_url": "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9", "has_image": false,
		"primary_email_address_id": emails[0]["id"], "primary_phone_number_id": primaryPhone,
		"primary_web3_wallet_id": nil, "password_enabled": i%4 == 0, "two_factor_enabled": false,
		"totp_enabled": false, "backup_code_enabled": false,
		"email_addresses": emails, "phone_numbers": orEmpty(phones), "web3_wallets": []any{},
		"passkeys": []any{}, "external_accounts": orEmpty(accounts), "saml_accounts": []any{},
		"enterprise_accounts": []any{}, "organization_memberships": []any{},
		"public_metadata":  map[string]any{"plan": []string{"free", "pro"}[i%2]},
		"private_metadata": map[string]any{}, "unsafe_metadata": map[string]any{},
		"last_sign_in_at": ms(updated), "last_active_at": ms(updated),
		"banned": false, "locked": false, "lockout_expires_in_seconds": nil,
		"verification_attempts_remaining": 100, "delete_self_enabled": true,
		"create_organization_enabled": true, "legal_accepted_at": nil,
		"mfa_enabled_at": nil, "mfa_disabled_at": nil, "password_last_updated_at": nil,
		"created_at": ms(created), "updated_at": ms(updated),
	}
	b, err := json.Marshal(u)
	if err != nil {
		panic(err)
	}
	return b
}

func orEmpty(xs []map[string]any) any {
	if xs == nil {
		return []any{}
	}
	return xs
}

// Generate puts users 0..n-1 in the fake.
func (s *Server) Generate(n int) {
	for i := range n {
		s.Put(GenUser(i, time.Time{}))
	}
}
