package db

import (
	"encoding/json"
	"time"

	"github.com/clerksync/clerksync"
)

// The JSON documents handed to jsonb_to_recordset: one field per column, so
// that a whole batch travels as one parameter.
type (
	userRow struct {
		ID                    string          `json:"id"`
		ExternalID            *string         `json:"external_id"`
		Username              *string         `json:"username"`
		FirstName             *string         `json:"first_name"`
		LastName              *string         `json:"last_name"`
		ImageURL              *string         `json:"image_url"`
		HasImage              bool            `json:"has_image"`
		Locale                *string         `json:"locale"`
		PrimaryEmailAddressID *string         `json:"primary_email_address_id"`
		PrimaryEmailAddress   *string         `json:"primary_email_address"`
		PrimaryPhoneNumberID  *string         `json:"primary_phone_number_id"`
		PrimaryPhoneNumber    *string         `json:"primary_phone_number"`
		PrimaryWeb3WalletID   *string         `json:"primary_web3_wallet_id"`
		PasswordEnabled       bool            `json:"password_enabled"`
		TwoFactorEnabled      bool            `json:"two_factor_enabled"`
		TOTPEnabled           bool            `json:"totp_enabled"`
		BackupCodeEnabled     bool            `json:"backup_code_enabled"`
		Banned                bool            `json:"banned"`
		Locked                bool            `json:"locked"`
		PublicMetadata        json.RawMessage `json:"public_metadata"`
		PrivateMetadata       json.RawMessage `json:"private_metadata"`
		UnsafeMetadata        json.RawMessage `json:"unsafe_metadata"`
		LastSignInAt          *time.Time      `json:"last_sign_in_at"`
		LastActiveAt          *time.Time      `json:"last_active_at"`
		CreatedAt             *time.Time      `json:"created_at"`
		UpdatedAt             *time.Time      `json:"updated_at"`
		Source                string          `json:"source"`
		Raw                   json.RawMessage `json:"-"` // spliced in by marshalSnapshots
		EmailAddresses        []emailRow      `json:"email_addresses"`
		PhoneNumbers          []phoneRow      `json:"phone_numbers"`
		Web3Wallets           []walletRow     `json:"web3_wallets"`
		ExternalAccounts      []accountRow    `json:"external_accounts"`
	}
	emailRow struct {
		ID                   string          `json:"id"`
		EmailAddress         string          `json:"email_address"`
		VerificationStatus   *string         `json:"verification_status"`
		VerificationStrategy *string         `json:"verification_strategy"`
		IsPrimary            bool            `json:"is_primary"`
		Reserved             bool            `json:"reserved"`
		LinkedTo             json.RawMessage `json:"linked_to"`
		CreatedAt            *time.Time      `json:"created_at"`
		UpdatedAt            *time.Time      `json:"updated_at"`
	}
	phoneRow struct {
		ID                      string     `json:"id"`
		PhoneNumber             string     `json:"phone_number"`
		VerificationStatus      *string    `json:"verification_status"`
		VerificationStrategy    *string    `json:"verification_strategy"`
		IsPrimary               bool       `json:"is_primary"`
		ReservedForSecondFactor bool       `json:"reserved_for_second_factor"`
		DefaultSecondFactor     bool       `json:"default_second_factor"`
		CreatedAt               *time.Time `json:"created_at"`
		UpdatedAt               *time.Time `json:"updated_at"`
	}
	walletRow struct {
		ID                   string     `json:"id"`
		Web3Wallet           string     `json:"web3_wallet"`
		VerificationStatus   *string    `json:"verification_status"`
		VerificationStrategy *string    `json:"verification_strategy"`
		IsPrimary            bool       `json:"is_primary"`
		CreatedAt            *time.Time `json:"created_at"`
		UpdatedAt            *time.Time `json:"updated_at"`
	}
	accountRow struct {
		ID                 string          `json:"id"`
		Provider           string          `json:"provider"`
		ProviderUserID     *string         `json:"provider_user_id"`
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
		CreatedAt          *time.Time      `json:"created_at"`
		UpdatedAt          *time.Time      `json:"updated_at"`
	}
)

func newUserRow(u *clerksync.User, source string) userRow {
	if source == "" {
		source = clerksync.SourceWebhook
	}
	r := userRow{
		ID: u.ID, ExternalID: u.ExternalID, Username: u.Username, FirstName: u.FirstName,
		LastName: u.LastName, ImageURL: u.ImageURL, HasImage: u.HasImage, Locale: u.Locale,
		PrimaryEmailAddressID: u.PrimaryEmailAddressID, PrimaryEmailAddress: u.PrimaryEmailAddress(),
		PrimaryPhoneNumberID: u.PrimaryPhoneNumberID, PrimaryPhoneNumber: u.PrimaryPhoneNumber(),
		PrimaryWeb3WalletID: u.PrimaryWeb3WalletID, PasswordEnabled: u.PasswordEnabled,
		TwoFactorEnabled: u.TwoFactorEnabled, TOTPEnabled: u.TOTPEnabled,
		BackupCodeEnabled: u.BackupCodeEnabled, Banned: u.Banned, Locked: u.Locked,
		PublicMetadata: u.PublicMetadata, PrivateMetadata: u.PrivateMetadata,
		UnsafeMetadata: u.UnsafeMetadata, LastSignInAt: ts(u.LastSignInAt),
		LastActiveAt: ts(u.LastActiveAt), CreatedAt: ts(u.CreatedAt), UpdatedAt: ts(u.UpdatedAt),
		Source: source, Raw: u.Raw,
		EmailAddresses: []emailRow{}, PhoneNumbers: []phoneRow{},
		Web3Wallets: []walletRow{}, ExternalAccounts: []accountRow{},
	}
	for _, e := range u.EmailAddresses {
		r.EmailAddresses = append(r.EmailAddresses, emailRow{
			ID: e.ID, EmailAddress: e.EmailAddress, VerificationStatus: e.Status,
			VerificationStrategy: e.Strategy, IsPrimary: e.IsPrimary, Reserved: e.Reserved,
			LinkedTo: e.LinkedTo, CreatedAt: ts(e.CreatedAt), UpdatedAt: ts(e.UpdatedAt),
		})
	}
	for _, p := range u.PhoneNumbers {
		r.PhoneNumbers = append(r.PhoneNumbers, phoneRow{
			ID: p.ID, PhoneNumber: p.PhoneNumber, VerificationStatus: p.Status,
			VerificationStrategy: p.Strategy, IsPrimary: p.IsPrimary,
			ReservedForSecondFactor: p.ReservedForSecondFactor,
			DefaultSecondFactor:     p.DefaultSecondFactor,
			CreatedAt:               ts(p.CreatedAt), UpdatedAt: ts(p.UpdatedAt),
		})
	}
	for _, x := range u.Web3Wallets {
		r.Web3Wallets = append(r.Web3Wallets, walletRow{
			ID: x.ID, Web3Wallet: x.Web3Wallet, VerificationStatus: x.Status,
			VerificationStrategy: x.Strategy, IsPrimary: x.IsPrimary,
			CreatedAt: ts(x.CreatedAt), UpdatedAt: ts(x.UpdatedAt),
		})
	}
	for _, a := range u.ExternalAccounts {
		r.ExternalAccounts = append(r.ExternalAccounts, accountRow{
			ID: a.ID, Provider: a.Provider, ProviderUserID: a.ProviderUserID,
			IdentificationID: a.IdentificationID, EmailAddress: a.EmailAddress,
			Username: a.Username, FirstName: a.FirstName, LastName: a.LastName,
			ImageURL: a.ImageURL, ApprovedScopes: a.ApprovedScopes, Label: a.Label,
			PublicMetadata: a.PublicMetadata, VerificationStatus: a.VerificationStatus,
			CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt),
		})
	}
	return r
}

// ts maps Clerk's absent times to SQL null.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// marshalSnapshots renders a batch for jsonb_to_recordset. raw, several KB
// per user, is spliced in as received rather than handed to encoding/json,
// which would validate and compact every byte of it again: it is valid
// JSON already, since DecodeUser produced it by parsing exactly those bytes.
func marshalSnapshots(rows []userRow) ([]byte, error) {
	buf := make([]byte, 0, 4096*len(rows))
	buf = append(buf, '[')
	for i := range rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		b, err := json.Marshal(&rows[i])
		if err != nil {
			return nil, err
		}
		buf = append(buf, b[:len(b)-1]...) // all but the closing brace
		buf = append(buf, `,"raw":`...)
		if len(rows[i].Raw) == 0 {
			buf = append(buf, "null"...)
		} else {
			buf = append(buf, rows[i].Raw...)
		}
		buf = append(buf, '}')
	}
	return append(buf, ']'), nil
}
