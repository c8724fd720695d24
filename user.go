package clerksync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// User is Clerk's user object, normalised to the mirror's columns. Optional
// values are nil pointers or zero times; metadata is always a JSON value
// (Clerk's null becomes {}).
type User struct {
	ID                    string
	ExternalID            *string
	Username              *string
	FirstName             *string
	LastName              *string
	ImageURL              *string
	HasImage              bool
	Locale                *string
	PrimaryEmailAddressID *string
	PrimaryPhoneNumberID  *string
	PrimaryWeb3WalletID   *string
	PasswordEnabled       bool
	TwoFactorEnabled      bool
	TOTPEnabled           bool
	BackupCodeEnabled     bool
	Banned                bool
	Locked                bool
	PublicMetadata        json.RawMessage
	PrivateMetadata       json.RawMessage
	UnsafeMetadata        json.RawMessage
	LastSignInAt          time.Time
	LastActiveAt          time.Time
	CreatedAt             time.Time
	UpdatedAt             time.Time

	EmailAddresses   []EmailAddress
	PhoneNumbers     []PhoneNumber
	Web3Wallets      []Web3Wallet
	ExternalAccounts []ExternalAccount

	// Raw is the user object exactly as Clerk sent it.
	Raw json.RawMessage
}

// PrimaryEmailAddress returns the address of the primary email, or nil.
func (u *User) PrimaryEmailAddress() *string {
	for _, e := range u.EmailAddresses {
		if e.IsPrimary {
			return &e.EmailAddress
		}
	}
	return nil
}

// PrimaryPhoneNumber returns the number of the primary phone, or nil.
func (u *User) PrimaryPhoneNumber() *string {
	for _, p := range u.PhoneNumbers {
		if p.IsPrimary {
			return &p.PhoneNumber
		}
	}
	return nil
}

// Verification is the verification state of a contact.
type Verification struct {
	Status   *string
	Strategy *string
}

// EmailAddress is one of a user's email addresses.
type EmailAddress struct {
	ID           string
	EmailAddress string
	Verification
	IsPrimary bool
	Reserved  bool
	LinkedTo  json.RawMessage // a JSON array, [] when absent
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PhoneNumber is one of a user's phone numbers.
type PhoneNumber struct {
	ID          string
	PhoneNumber string
	Verification
	IsPrimary               bool
	ReservedForSecondFactor bool
	DefaultSecondFactor     bool
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Web3Wallet is one of a user's web3 wallets.
type Web3Wallet struct {
	ID         string
	Web3Wallet string
	Verification
	IsPrimary bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ExternalAccount is one of a user's OAuth accounts, whichever of Clerk's
// three shapes it arrived in. ID is the eac_ id where Clerk sends one.
type ExternalAccount struct {
	ID                 string
	Provider           string
	ProviderUserID     *string // nil when Clerk sent it empty (a failed link)
	IdentificationID   *string
	EmailAddress       *string
	Username           *string
	FirstName          *string
	LastName           *string
	ImageURL           *string
	ApprovedScopes     *string
	Label              *string
	PublicMetadata     json.RawMessage
	VerificationStatus *string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// The wire shapes, decoded tolerantly: unknown keys are ignored and every
// optional value may be missing or null.
type (
	wireVerification struct {
		Status   *string `json:"status"`
		Strategy *string `json:"strategy"`
	}
	wireUser struct {
		ID                    string          `json:"id"`
		ExternalID            *string         `json:"external_id"`
		Username              *string         `json:"username"`
		FirstName             *string         `json:"first_name"`
		LastName              *string         `json:"last_name"`
		ImageURL              *string         `json:"image_url"`
		ProfileImageURL       *string         `json:"profile_image_url"`
		HasImage              *bool           `json:"has_image"`
		Locale                *string         `json:"locale"`
		PrimaryEmailAddressID *string         `json:"primary_email_address_id"`
		PrimaryPhoneNumberID  *string         `json:"primary_phone_number_id"`
		PrimaryWeb3WalletID   *string         `json:"primary_web3_wallet_id"`
		PasswordEnabled       *bool           `json:"password_enabled"`
		TwoFactorEnabled      *bool           `json:"two_factor_enabled"`
		TOTPEnabled           *bool           `json:"totp_enabled"`
		BackupCodeEnabled     *bool           `json:"backup_code_enabled"`
		Banned                *bool           `json:"banned"`
		Locked                *bool           `json:"locked"`
		PublicMetadata        json.RawMessage `json:"public_metadata"`
		PrivateMetadata       json.RawMessage `json:"private_metadata"`
		UnsafeMetadata        json.RawMessage `json:"unsafe_metadata"`
		LastSignInAt          *int64          `json:"last_sign_in_at"`
		LastActiveAt          *int64          `json:"last_active_at"`
		CreatedAt             *int64          `json:"created_at"`
		UpdatedAt             *int64          `json:"updated_at"`
		EmailAddresses        []struct {
			ID           string            `json:"id"`
			EmailAddress string            `json:"email_address"`
			Verification *wireVerification `json:"verification"`
			Reserved     *bool             `json:"reserved"`
			LinkedTo     json.RawMessage   `json:"linked_to"`
			CreatedAt    *int64            `json:"created_at"`
			UpdatedAt    *int64            `json:"updated_at"`
		} `json:"email_addresses"`
		PhoneNumbers []struct {
			ID                      string            `json:"id"`
			PhoneNumber             string            `json:"phone_number"`
			Verification            *wireVerification `json:"verification"`
			ReservedForSecondFactor *bool             `json:"reserved_for_second_factor"`
			DefaultSecondFactor     *bool             `json:"default_second_factor"`
			CreatedAt               *int64            `json:"created_at"`
			UpdatedAt               *int64            `json:"updated_at"`
		} `json:"phone_numbers"`
		Web3Wallets []struct {
			ID           string            `json:"id"`
			Web3Wallet   string            `json:"web3_wallet"`
			Verification *wireVerification `json:"verification"`
			CreatedAt    *int64            `json:"created_at"`
			UpdatedAt    *int64            `json:"updated_at"`
		} `json:"web3_wallets"`
		ExternalAccounts []wireExternalAccount `json:"external_accounts"`
	}
	wireExternalAccount struct {
		Object            string            `json:"object"`
		ID                string            `json:"id"`
		ExternalAccountID *string           `json:"external_account_id"`
		Provider          *string           `json:"provider"`
		ProviderUserID    *string           `json:"provider_user_id"`
		IdentificationID  *string           `json:"identification_id"`
		EmailAddress      *string           `json:"email_address"`
		Username          *string           `json:"username"`
		FirstName         *string           `json:"first_name"`
		LastName          *string           `json:"last_name"`
		ImageURL          *string           `json:"image_url"`
		AvatarURL         *string           `json:"avatar_url"`
		ApprovedScopes    *string           `json:"approved_scopes"`
		Label             *string           `json:"label"`
		PublicMetadata    json.RawMessage   `json:"public_metadata"`
		Verification      *wireVerification `json:"verification"`
		CreatedAt         *int64            `json:"created_at"`
		UpdatedAt         *int64            `json:"updated_at"`
		// The legacy Google shape.
		GoogleID   *string `json:"google_id"`
		GivenName  *string `json:"given_name"`
		FamilyName *string `json:"family_name"`
		Picture    *string `json:"picture"`
	}
)

// DecodeUser decodes and normalises a Clerk user object. It returns an error
// wrapping ErrInvalidEvent when data is not a user object with a valid id or
// when a contact has no id.
func DecodeUser(data []byte) (*User, error) {
	var w wireUser
	if err := unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: user: %v", ErrInvalidEvent, err)
	}
	if !ValidUserID(w.ID) {
		return nil, fmt.Errorf("%w: user id is not a Clerk user id", ErrInvalidEvent)
	}
	u := &User{
		ID:                    w.ID,
		ExternalID:            nonEmpty(w.ExternalID),
		Username:              w.Username,
		FirstName:             w.FirstName,
		LastName:              w.LastName,
		ImageURL:              firstNonEmpty(w.ImageURL, w.ProfileImageURL),
		HasImage:              isTrue(w.HasImage),
		Locale:                w.Locale,
		PrimaryEmailAddressID: nonEmpty(w.PrimaryEmailAddressID),
		PrimaryPhoneNumberID:  nonEmpty(w.PrimaryPhoneNumberID),
		PrimaryWeb3WalletID:   nonEmpty(w.PrimaryWeb3WalletID),
		PasswordEnabled:       isTrue(w.PasswordEnabled),
		TwoFactorEnabled:      isTrue(w.TwoFactorEnabled),
		TOTPEnabled:           isTrue(w.TOTPEnabled),
		BackupCodeEnabled:     isTrue(w.BackupCodeEnabled),
		Banned:                isTrue(w.Banned),
		Locked:                isTrue(w.Locked),
		PublicMetadata:        jsonOr(w.PublicMetadata, "{}"),
		PrivateMetadata:       jsonOr(w.PrivateMetadata, "{}"),
		UnsafeMetadata:        jsonOr(w.UnsafeMetadata, "{}"),
		LastSignInAt:          millis(w.LastSignInAt),
		LastActiveAt:          millis(w.LastActiveAt),
		CreatedAt:             millis(w.CreatedAt),
		UpdatedAt:             millis(w.UpdatedAt),
		Raw:                   json.RawMessage(data),
	}
	for _, e := range w.EmailAddresses {
		if e.ID == "" {
			return nil, fmt.Errorf("%w: an email address has no id", ErrInvalidEvent)
		}
		u.EmailAddresses = append(u.EmailAddresses, EmailAddress{
			ID: e.ID, EmailAddress: e.EmailAddress, Verification: verification(e.Verification),
			IsPrimary: is(u.PrimaryEmailAddressID, e.ID), Reserved: isTrue(e.Reserved),
			LinkedTo:  jsonOr(e.LinkedTo, "[]"),
			CreatedAt: millis(e.CreatedAt), UpdatedAt: millis(e.UpdatedAt),
		})
	}
	for _, p := range w.PhoneNumbers {
		if p.ID == "" {
			return nil, fmt.Errorf("%w: a phone number has no id", ErrInvalidEvent)
		}
		u.PhoneNumbers = append(u.PhoneNumbers, PhoneNumber{
			ID: p.ID, PhoneNumber: p.PhoneNumber, Verification: verification(p.Verification),
			IsPrimary:               is(u.PrimaryPhoneNumberID, p.ID),
			ReservedForSecondFactor: isTrue(p.ReservedForSecondFactor),
			DefaultSecondFactor:     isTrue(p.DefaultSecondFactor),
			CreatedAt:               millis(p.CreatedAt), UpdatedAt: millis(p.UpdatedAt),
		})
	}
	for _, x := range w.Web3Wallets {
		if x.ID == "" {
			return nil, fmt.Errorf("%w: a web3 wallet has no id", ErrInvalidEvent)
		}
		u.Web3Wallets = append(u.Web3Wallets, Web3Wallet{
			ID: x.ID, Web3Wallet: x.Web3Wallet, Verification: verification(x.Verification),
			IsPrimary: is(u.PrimaryWeb3WalletID, x.ID),
			CreatedAt: millis(x.CreatedAt), UpdatedAt: millis(x.UpdatedAt),
		})
	}
	for _, a := range w.ExternalAccounts {
		acc, err := a.normalise()
		if err != nil {
			return nil, err
		}
		u.ExternalAccounts = append(u.ExternalAccounts, acc)
	}
	u.EmailAddresses = dedupe(u.EmailAddresses, func(e EmailAddress) string { return e.ID })
	u.PhoneNumbers = dedupe(u.PhoneNumbers, func(p PhoneNumber) string { return p.ID })
	u.Web3Wallets = dedupe(u.Web3Wallets, func(x Web3Wallet) string { return x.ID })
	u.ExternalAccounts = dedupe(u.ExternalAccounts, func(a ExternalAccount) string { return a.ID })
	return u, nil
}

// normalise maps the three external account shapes onto one:
//   - "external_account": id is the eac_ id;
//   - "google_account"/"facebook_account": id is the idn_ identification and
//     external_account_id the eac_ id;
//   - legacy Google: google_id, given_name, family_name, picture and no
//     provider.
func (a wireExternalAccount) normalise() (ExternalAccount, error) {
	id := a.ID
	identification := nonEmpty(a.IdentificationID)
	if eac := nonEmpty(a.ExternalAccountID); eac != nil {
		id = *eac
		if identification == nil && a.ID != "" {
			identification = &a.ID
		}
	}
	if id == "" {
		return ExternalAccount{}, fmt.Errorf("%w: an external account has no id", ErrInvalidEvent)
	}
	provider := ""
	if a.Provider != nil {
		provider = *a.Provider
	}
	if provider == "" {
		// Legacy shapes name the provider only through their object.
		provider = "oauth_" + strings.TrimSuffix(a.Object, "_account")
		if a.Object == "" || a.Object == "external_account" {
			provider = "unknown"
		}
	}
	acc := ExternalAccount{
		ID:               id,
		Provider:         provider,
		ProviderUserID:   nonEmpty(firstNonEmpty(a.ProviderUserID, a.GoogleID)),
		IdentificationID: identification,
		EmailAddress:     a.EmailAddress,
		Username:         a.Username,
		FirstName:        firstNonEmpty(a.FirstName, a.GivenName),
		LastName:         firstNonEmpty(a.LastName, a.FamilyName),
		ImageURL:         firstNonEmpty(a.ImageURL, a.AvatarURL, a.Picture),
		ApprovedScopes:   a.ApprovedScopes,
		Label:            a.Label,
		PublicMetadata:   jsonOr(a.PublicMetadata, "{}"),
		CreatedAt:        millis(a.CreatedAt),
		UpdatedAt:        millis(a.UpdatedAt),
	}
	if a.Verification != nil {
		acc.VerificationStatus = a.Verification.Status
	}
	return acc, nil
}

func verification(v *wireVerification) Verification {
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

// millis reads Clerk's Unix milliseconds; a time after MaxTimestamp, which
// the write path could not encode, counts as absent.
func millis(ms *int64) time.Time {
	if ms == nil || *ms <= 0 || *ms > maxTimestampMillis {
		return time.Time{}
	}
	return time.UnixMilli(*ms).UTC()
}

func isTrue(b *bool) bool { return b != nil && *b }

func is(p *string, s string) bool { return p != nil && *p == s }

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
