package clerksync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// User is Clerk's user object, normalised: both what DecodeUser decodes
// Clerk's JSON into and the users row the store writes. Each json tag is a
// users column, and where Clerk's key is the column's name the value is
// decoded straight into it; so mirroring one more such field is a migration,
// a field here and its line in the upsert's SET list
// (db/sql/apply.sql; a test checks that list against the table).
//
// Absent values are SQL NULL and encode so: a nil *string (an empty one is
// kept as ""), an empty string under omitempty (Clerk's "" ids), a zero
// Millis under omitzero. Metadata is always a JSON value (Clerk's null
// becomes {}).
type User struct {
	ID                    string          `json:"id"`
	ExternalID            string          `json:"external_id,omitempty"`
	Username              *string         `json:"username"`
	FirstName             *string         `json:"first_name"`
	LastName              *string         `json:"last_name"`
	ImageURL              string          `json:"image_url,omitempty"`
	HasImage              bool            `json:"has_image"`
	Locale                *string         `json:"locale"`
	PrimaryEmailAddressID string          `json:"primary_email_address_id,omitempty"`
	PrimaryEmailAddress   *string         `json:"primary_email_address"` // the address itself, from EmailAddresses
	PrimaryPhoneNumberID  string          `json:"primary_phone_number_id,omitempty"`
	PrimaryPhoneNumber    *string         `json:"primary_phone_number"` // the number itself, from PhoneNumbers
	PrimaryWeb3WalletID   string          `json:"primary_web3_wallet_id,omitempty"`
	PasswordEnabled       bool            `json:"password_enabled"`
	TwoFactorEnabled      bool            `json:"two_factor_enabled"`
	TOTPEnabled           bool            `json:"totp_enabled"`
	BackupCodeEnabled     bool            `json:"backup_code_enabled"`
	Banned                bool            `json:"banned"`
	Locked                bool            `json:"locked"`
	PublicMetadata        json.RawMessage `json:"public_metadata"`
	PrivateMetadata       json.RawMessage `json:"private_metadata"`
	UnsafeMetadata        json.RawMessage `json:"unsafe_metadata"`
	LastSignInAt          Millis          `json:"last_sign_in_at,omitzero"`
	LastActiveAt          Millis          `json:"last_active_at,omitzero"`
	CreatedAt             Millis          `json:"created_at,omitzero"`
	UpdatedAt             Millis          `json:"updated_at,omitzero"`

	// The contacts are rows of their own tables, each naming its user.
	EmailAddresses   []EmailAddress    `json:"-"`
	PhoneNumbers     []PhoneNumber     `json:"-"`
	Web3Wallets      []Web3Wallet      `json:"-"`
	ExternalAccounts []ExternalAccount `json:"-"`

	// Raw is the user object as Clerk sent it, with DecodeUser's repairs
	// (NUL as U+FFFD); the store writes it to users.raw.
	Raw json.RawMessage `json:"-"`
}

// Verification is the verification state of a contact.
type Verification struct {
	Status   *string `json:"verification_status"`
	Strategy *string `json:"verification_strategy"`
}

// EmailAddress is one of a user's email addresses: an email_addresses row.
type EmailAddress struct {
	ID           string `json:"id"`
	UserID       string `json:"user_id"`
	EmailAddress string `json:"email_address"`
	Verification
	IsPrimary bool            `json:"is_primary"`
	Reserved  bool            `json:"reserved"`
	LinkedTo  json.RawMessage `json:"linked_to"` // a JSON array, [] when absent
	CreatedAt Millis          `json:"created_at,omitzero"`
	UpdatedAt Millis          `json:"updated_at,omitzero"`
}

// PhoneNumber is one of a user's phone numbers: a phone_numbers row.
type PhoneNumber struct {
	ID          string `json:"id"`
	UserID      string `json:"user_id"`
	PhoneNumber string `json:"phone_number"`
	Verification
	IsPrimary               bool   `json:"is_primary"`
	ReservedForSecondFactor bool   `json:"reserved_for_second_factor"`
	DefaultSecondFactor     bool   `json:"default_second_factor"`
	CreatedAt               Millis `json:"created_at,omitzero"`
	UpdatedAt               Millis `json:"updated_at,omitzero"`
}

// Web3Wallet is one of a user's web3 wallets: a web3_wallets row.
type Web3Wallet struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	Web3Wallet string `json:"web3_wallet"`
	Verification
	IsPrimary bool   `json:"is_primary"`
	CreatedAt Millis `json:"created_at,omitzero"`
	UpdatedAt Millis `json:"updated_at,omitzero"`
}

// ExternalAccount is one of a user's OAuth accounts, whichever of Clerk's
// three shapes it arrived in: an external_accounts row. ID is the eac_ id
// where Clerk sends one.
type ExternalAccount struct {
	ID                 string          `json:"id"`
	UserID             string          `json:"user_id"`
	Provider           string          `json:"provider"`
	ProviderUserID     *string         `json:"provider_user_id"` // nil when Clerk sent it empty (a failed link)
	IdentificationID   *string         `json:"identification_id"`
	EmailAddress       *string         `json:"email_address"`
	Username           *string         `json:"username"`
	FirstName          *string         `json:"first_name"`
	LastName           *string         `json:"last_name"`
	ImageURL           *string         `json:"image_url"`
	ApprovedScopes     *string         `json:"approved_scopes"`
	Label              *string         `json:"label"`
	PublicMetadata     json.RawMessage `json:"public_metadata"`
	VerificationStatus *string         `json:"verification_status"`
	CreatedAt          Millis          `json:"created_at,omitzero"`
	UpdatedAt          Millis          `json:"updated_at,omitzero"`
}

// The wire shapes: the rows above, plus the keys where Clerk's JSON is not
// the columns (the nested verification, legacy names), which take
// precedence over a row's own keys. Decoding is tolerant: unknown keys are
// ignored and every optional value may be missing or null.
type (
	wireUser struct {
		*User
		ProfileImageURL  string                `json:"profile_image_url"` // the legacy image_url
		EmailAddresses   []wireEmailAddress    `json:"email_addresses"`
		PhoneNumbers     []wirePhoneNumber     `json:"phone_numbers"`
		Web3Wallets      []wireWeb3Wallet      `json:"web3_wallets"`
		ExternalAccounts []wireExternalAccount `json:"external_accounts"`
	}
	wireVerification struct {
		Status   *string `json:"status"`
		Strategy *string `json:"strategy"`
	}
	wireEmailAddress struct {
		EmailAddress
		WireVerification *wireVerification `json:"verification"`
	}
	wirePhoneNumber struct {
		PhoneNumber
		WireVerification *wireVerification `json:"verification"`
	}
	wireWeb3Wallet struct {
		Web3Wallet
		WireVerification *wireVerification `json:"verification"`
	}
	wireExternalAccount struct {
		ExternalAccount
		Object            string            `json:"object"`
		ExternalAccountID string            `json:"external_account_id"`
		AvatarURL         *string           `json:"avatar_url"`
		WireVerification  *wireVerification `json:"verification"`
		// The legacy Google shape.
		GoogleID   *string `json:"google_id"`
		GivenName  *string `json:"given_name"`
		FamilyName *string `json:"family_name"`
		Picture    *string `json:"picture"`
	}
)

// DecodeUser decodes and normalises a Clerk user object. A NUL (\u0000) in
// any string, metadata keys included, becomes U+FFFD, in the fields and in
// Raw alike. It returns an error wrapping ErrInvalidEvent when data is not a
// user object with a valid id, when a contact has no id, or when it holds
// what the mirror can never store: bytes that are not UTF-8, a time after
// 9999-12-31 (see Millis), a number beyond Postgres's numeric.
func DecodeUser(data []byte) (*User, error) {
	data, err := storable(data)
	if err != nil {
		return nil, err
	}
	u := &User{Raw: json.RawMessage(data)}
	w := wireUser{User: u}
	if err := unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: user: %v", ErrInvalidEvent, err)
	}
	if !ValidUserID(u.ID) {
		return nil, fmt.Errorf("%w: user id is not a Clerk user id", ErrInvalidEvent)
	}
	if u.ImageURL == "" {
		u.ImageURL = w.ProfileImageURL
	}
	u.PublicMetadata = jsonOr(u.PublicMetadata, "{}")
	u.PrivateMetadata = jsonOr(u.PrivateMetadata, "{}")
	u.UnsafeMetadata = jsonOr(u.UnsafeMetadata, "{}")
	for _, x := range w.EmailAddresses {
		e := x.EmailAddress
		if e.ID == "" {
			return nil, fmt.Errorf("%w: an email address has no id", ErrInvalidEvent)
		}
		e.UserID, e.Verification = u.ID, x.WireVerification.value()
		e.IsPrimary = e.ID == u.PrimaryEmailAddressID
		e.LinkedTo = jsonOr(e.LinkedTo, "[]")
		u.EmailAddresses = append(u.EmailAddresses, e)
	}
	for _, x := range w.PhoneNumbers {
		p := x.PhoneNumber
		if p.ID == "" {
			return nil, fmt.Errorf("%w: a phone number has no id", ErrInvalidEvent)
		}
		p.UserID, p.Verification = u.ID, x.WireVerification.value()
		p.IsPrimary = p.ID == u.PrimaryPhoneNumberID
		u.PhoneNumbers = append(u.PhoneNumbers, p)
	}
	for _, x := range w.Web3Wallets {
		wallet := x.Web3Wallet
		if wallet.ID == "" {
			return nil, fmt.Errorf("%w: a web3 wallet has no id", ErrInvalidEvent)
		}
		wallet.UserID, wallet.Verification = u.ID, x.WireVerification.value()
		wallet.IsPrimary = wallet.ID == u.PrimaryWeb3WalletID
		u.Web3Wallets = append(u.Web3Wallets, wallet)
	}
	for _, x := range w.ExternalAccounts {
		acc, err := x.normalise(u.ID)
		if err != nil {
			return nil, err
		}
		u.ExternalAccounts = append(u.ExternalAccounts, acc)
	}
	u.EmailAddresses = dedupe(u.EmailAddresses, func(e EmailAddress) string { return e.ID })
	u.PhoneNumbers = dedupe(u.PhoneNumbers, func(p PhoneNumber) string { return p.ID })
	u.Web3Wallets = dedupe(u.Web3Wallets, func(x Web3Wallet) string { return x.ID })
	u.ExternalAccounts = dedupe(u.ExternalAccounts, func(a ExternalAccount) string { return a.ID })
	// Derived columns: whatever the payload said under their names is replaced.
	u.PrimaryEmailAddress, u.PrimaryPhoneNumber = nil, nil
	for _, e := range u.EmailAddresses {
		if e.IsPrimary {
			u.PrimaryEmailAddress = &e.EmailAddress
		}
	}
	for _, p := range u.PhoneNumbers {
		if p.IsPrimary {
			u.PrimaryPhoneNumber = &p.PhoneNumber
		}
	}
	return u, nil
}

// normalise maps the three external account shapes onto one:
//   - "external_account": id is the eac_ id;
//   - "google_account"/"facebook_account": id is the idn_ identification and
//     external_account_id the eac_ id;
//   - legacy Google: google_id, given_name, family_name, picture and no
//     provider.
func (w wireExternalAccount) normalise(userID string) (ExternalAccount, error) {
	a := w.ExternalAccount
	identification := nonEmpty(a.IdentificationID)
	if w.ExternalAccountID != "" {
		if identification == nil && a.ID != "" {
			identification = &w.ID
		}
		a.ID = w.ExternalAccountID
	}
	if a.ID == "" {
		return ExternalAccount{}, fmt.Errorf("%w: an external account has no id", ErrInvalidEvent)
	}
	if a.Provider == "" {
		// Legacy shapes name the provider only through their object.
		a.Provider = "oauth_" + strings.TrimSuffix(w.Object, "_account")
		if w.Object == "" || w.Object == "external_account" {
			a.Provider = "unknown"
		}
	}
	a.UserID = userID
	a.ProviderUserID = nonEmpty(firstNonEmpty(a.ProviderUserID, w.GoogleID))
	a.IdentificationID = identification
	a.FirstName = firstNonEmpty(a.FirstName, w.GivenName)
	a.LastName = firstNonEmpty(a.LastName, w.FamilyName)
	a.ImageURL = firstNonEmpty(a.ImageURL, w.AvatarURL, w.Picture)
	a.PublicMetadata = jsonOr(a.PublicMetadata, "{}")
	a.VerificationStatus = nil
	if w.WireVerification != nil {
		a.VerificationStatus = w.WireVerification.Status
	}
	return a, nil
}

func (v *wireVerification) value() Verification {
	if v == nil {
		return Verification{}
	}
	return Verification{Status: v.Status, Strategy: v.Strategy}
}

// dedupe keeps the last of several contacts sharing an id, so that one
// snapshot never writes the same row twice.
func dedupe[T any](xs []T, id func(T) string) []T {
	if len(xs) < 2 {
		return xs
	}
	at := make(map[string]int, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if i, ok := at[id(x)]; ok {
			out[i] = x
			continue
		}
		at[id(x)] = len(out)
		out = append(out, x)
	}
	return out
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func firstNonEmpty(ss ...*string) *string {
	for _, s := range ss {
		if s != nil && *s != "" {
			return s
		}
	}
	return nil
}

// jsonOr returns v, or def when v is absent or JSON null.
func jsonOr(v json.RawMessage, def string) json.RawMessage {
	t := bytes.TrimSpace(v)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return json.RawMessage(def)
	}
	return t
}
