// Package clerkgen makes realistic histories of Clerk user events for
// benchmarks and for training the task payload dictionary: users created,
// updated several times with increasing updated_at, some deleted at the
// end, delivered roughly in order with the local shuffling Svix's retries
// and concurrency cause. Snapshots are built from a Clerk event fixture
// (testdata/20-user.created.composed-multi-contact.json), with every id,
// name, address and time made the user's own, and are marshalled compact
// with sorted keys, as Clerk sends them.
package clerkgen

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
)

// Delivery is one generated webhook delivery.
type Delivery struct {
	ID     string // svix-id: msg_ and 27 base62 characters
	Type   string // user.created, user.updated or user.deleted
	UserID string
	Body   []byte
}

// Options shape a history.
type Options struct {
	Events int     // deliveries in all
	Users  int     // distinct users; each gets Events/Users of them (the first ones one more)
	Delete float64 // share of users whose last event is user.deleted (0.1 in the issue)
	Seed   uint64  // the same seed makes the same history
	// Jitter is how far (as a share of the whole history's span) a delivery
	// may move from its place in time; 0 means 0.02.
	Jitter float64
}

// Final is a user's expected state once every delivery is applied.
type Final struct {
	Deleted   bool
	UpdatedAt int64 // Clerk's updated_at of the user's newest snapshot
}

// Generator builds histories from a template snapshot.
type Generator struct {
	template []byte                    // the fixture's data object
	first    map[string]map[string]any // the first element of each list in it
}

// New builds a Generator from a user.created fixture (the multi-contact one:
// its data is taken apart into the contacts users are given).
func New(fixture []byte) (*Generator, error) {
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(fixture, &ev); err != nil || len(ev.Data) == 0 {
		return nil, fmt.Errorf("clerkgen: template is not a Clerk event: %v", err)
	}
	var data map[string]any
	if err := decode(ev.Data, &data); err != nil {
		return nil, fmt.Errorf("clerkgen: template: %w", err)
	}
	g := &Generator{template: ev.Data, first: map[string]map[string]any{}}
	for _, k := range []string{"email_addresses", "phone_numbers", "external_accounts", "web3_wallets", "passkeys"} {
		l, _ := data[k].([]any)
		if len(l) == 0 {
			return nil, fmt.Errorf("clerkgen: template has no %s", k)
		}
		g.first[k] = l[0].(map[string]any)
	}
	return g, nil
}

// History makes o.Events deliveries in delivery order, and the final state
// each user must reach.
func (g *Generator) History(o Options) ([]Delivery, map[string]Final) {
	if o.Users <= 0 || o.Events < o.Users {
		panic("clerkgen: need at least one event per user")
	}
	if o.Jitter == 0 {
		o.Jitter = 0.02
	}
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	const start = int64(1752566400000) // 2025-07-15, Unix ms
	span := int64(o.Events) * 50       // ms: 20 events/s on average
	type timed struct {
		at int64 // delivery position: the event's time plus jitter
		d  Delivery
	}
	all := make([]timed, 0, o.Events)
	finals := make(map[string]Final, o.Users)
	instance := "ins_" + base62(r, 27)
	deletions := int(float64(o.Users)*o.Delete + 0.5)
	for u := range o.Users {
		k := o.Events / o.Users
		if u < o.Events%o.Users {
			k++
		}
		times := make([]int64, k)
		for i := range times {
			times[i] = start + r.Int64N(span)
		}
		sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
		for i := 1; i < len(times); i++ {
			if times[i] <= times[i-1] {
				times[i] = times[i-1] + 1
			}
		}
		// Spread the deleted users over the whole set, not the first ones.
		deleted := k > 1 && (u*deletions)/o.Users != ((u+1)*deletions)/o.Users
		user := g.newUser(r, instance, times[0])
		for i, at := range times {
			typ := "user.updated"
			switch {
			case i == 0:
				typ = "user.created"
			case deleted && i == k-1:
				typ = "user.deleted"
			default:
				user.update(r, at)
			}
			var body []byte
			if typ == "user.deleted" {
				body = user.deletedBody(at + 20)
			} else {
				body = user.body(typ, at+15)
			}
			all = append(all, timed{
				at: at + r.Int64N(int64(float64(span)*o.Jitter)+1),
				d:  Delivery{ID: "msg_" + base62(r, 27), Type: typ, UserID: user.id, Body: body},
			})
		}
		finals[user.id] = Final{Deleted: deleted, UpdatedAt: user.updatedAt}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].at < all[b].at })
	out := make([]Delivery, len(all))
	for i, t := range all {
		out[i] = t.d
	}
	return out, finals
}

// user is one generated user's current snapshot.
type user struct {
	id, instance, ip, agent string
	data                    map[string]any
	updatedAt               int64
	spareEmail              map[string]any // added and removed by updates
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Leslie",
		"Margaret", "Dennis", "Hedy", "Tim", "Katherine", "Linus", "Sophie", "Niklaus", "Shafi", "John"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman",
		"Lamport", "Hamilton", "Ritchie", "Lamarr", "Berners-Lee", "Johnson", "Torvalds", "Wilson", "Wirth", "Goldwasser", "McCarthy"}
	domains = []string{"example.com", "example.org", "example.net", "mail.example", "corp.example", "uni.example"}
	plans   = []string{"free", "pro", "team", "enterprise"}
	agents  = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		"okhttp/4.12.0",
	}
)

func (g *Generator) newUser(r *rand.Rand, instance string, at int64) *user {
	var data map[string]any
	if err := decode(g.template, &data); err != nil {
		panic(err) // checked in New
	}
	u := &user{id: "user_" + base62(r, 27), instance: instance, data: data, updatedAt: at,
		ip: fmt.Sprintf("203.0.113.%d", r.IntN(254)+1), agent: agents[r.IntN(len(agents))]}
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	local := fmt.Sprintf("%s.%s%d", lower(first), lower(last), r.IntN(10000))
	email := func(i int, tmpl map[string]any, domain string) map[string]any {
		e := clone(tmpl)
		e["id"] = "idn_" + base62(r, 27)
		e["email_address"] = fmt.Sprintf("%s@%s", local, domain)
		if i > 0 {
			e["email_address"] = fmt.Sprintf("%s+%d@%s", local, i, domain)
		}
		e["created_at"], e["updated_at"] = json.Number(fmt.Sprint(at-int64(r.IntN(5000)))), json.Number(fmt.Sprint(at))
		e["linked_to"] = []any{}
		return e
	}
	tmplEmails := data["email_addresses"].([]any)
	emails := []any{email(0, tmplEmails[1].(map[string]any), domains[r.IntN(len(domains))])}
	u.spareEmail = email(1, tmplEmails[1].(map[string]any), domains[r.IntN(len(domains))])
	if r.IntN(2) == 0 {
		emails = append(emails, u.spareEmail)
		u.spareEmail = nil
	}
	data["email_addresses"] = emails
	data["primary_email_address_id"] = emails[0].(map[string]any)["id"]
	data["phone_numbers"] = []any{}
	data["primary_phone_number_id"] = nil
	if r.Float64() < 0.5 {
		p := clone(g.first["phone_numbers"])
		p["id"] = "idn_" + base62(r, 27)
		p["phone_number"] = fmt.Sprintf("+1415555%04d", r.IntN(10000))
		data["phone_numbers"] = []any{p}
		data["primary_phone_number_id"] = p["id"]
	}
	data["external_accounts"] = []any{}
	if r.Float64() < 0.5 {
		a := clone(g.first["external_accounts"])
		idn := "idn_" + base62(r, 27)
		a["id"], a["identification_id"], a["external_account_id"] = idn, idn, "eac_"+base62(r, 27)
		a["provider_user_id"] = fmt.Sprintf("1%020d", r.Uint64()%1e18)
		a["email_address"], a["first_name"], a["last_name"] = emails[0].(map[string]any)["email_address"], first, last
		a["avatar_url"] = "https://lh3.googleusercontent.com/a/" + base62(r, 40) + "=s1000-c"
		a["image_url"] = "https://img.clerk.com/" + imageToken(instance, u.id, "proxy")
		data["external_accounts"] = []any{a}
		e := emails[0].(map[string]any)
		e["linked_to"] = []any{map[string]any{"type": "oauth_google", "id": idn}}
		e["verification"] = map[string]any{"object": "verification_from_oauth", "status": "verified",
			"strategy": "from_oauth_google", "attempts": nil, "expire_at": nil}
	}
	data["web3_wallets"], data["primary_web3_wallet_id"] = []any{}, nil
	if r.Float64() < 0.05 {
		w := clone(g.first["web3_wallets"])
		w["id"] = "idn_" + base62(r, 27)
		w["web3_wallet"] = "0x" + hex(r, 40)
		data["web3_wallets"] = []any{w}
		data["primary_web3_wallet_id"] = w["id"]
	}
	data["passkeys"] = []any{}
	if r.Float64() < 0.1 {
		p := clone(g.first["passkeys"])
		p["id"] = "pk_" + base62(r, 27)
		data["passkeys"] = []any{p}
	}
	data["enterprise_accounts"] = []any{}
	data["id"] = u.id
	data["external_id"] = nil
	if r.IntN(3) == 0 {
		data["external_id"] = fmt.Sprintf("legacy-%d", r.IntN(1e6))
	}
	data["username"] = nil
	if r.IntN(2) == 0 {
		data["username"] = fmt.Sprintf("%s_%s%d", lower(first), lower(last), r.IntN(100))
	}
	data["first_name"], data["last_name"] = first, last
	data["image_url"] = "https://img.clerk.com/" + imageToken(instance, u.id, "default")
	data["profile_image_url"] = "https://www.gravatar.com/avatar?d=mp"
	data["public_metadata"] = map[string]any{"plan": plans[r.IntN(len(plans))], "roles": []any{"member"}}
	data["private_metadata"] = map[string]any{"stripe_customer_id": "cus_" + base62(r, 14), "internal_score": json.Number(fmt.Sprint(r.IntN(100)))}
	data["unsafe_metadata"] = map[string]any{"onboarding_complete": false, "theme": "light"}
	data["created_at"] = json.Number(fmt.Sprint(at))
	data["last_sign_in_at"] = json.Number(fmt.Sprint(at))
	data["last_active_at"] = json.Number(fmt.Sprint(at))
	data["updated_at"] = json.Number(fmt.Sprint(at))
	return u
}

// update changes what Clerk users change between snapshots: activity
// times, metadata, sometimes a name or an email address.
func (u *user) update(r *rand.Rand, at int64) {
	d := u.data
	u.updatedAt = at
	d["updated_at"] = json.Number(fmt.Sprint(at))
	d["last_active_at"] = json.Number(fmt.Sprint(at - int64(r.IntN(1000))))
	if r.IntN(2) == 0 {
		d["last_sign_in_at"] = json.Number(fmt.Sprint(at))
	}
	d["private_metadata"].(map[string]any)["internal_score"] = json.Number(fmt.Sprint(r.IntN(100)))
	d["unsafe_metadata"].(map[string]any)["onboarding_complete"] = true
	if r.IntN(4) == 0 {
		d["public_metadata"].(map[string]any)["plan"] = plans[r.IntN(len(plans))]
	}
	if r.IntN(5) == 0 {
		d["last_name"] = lastNames[r.IntN(len(lastNames))]
	}
	if r.IntN(4) == 0 {
		emails := d["email_addresses"].([]any)
		if u.spareEmail != nil {
			d["email_addresses"] = append(emails, u.spareEmail)
			u.spareEmail = nil
		} else if len(emails) > 1 {
			u.spareEmail = emails[len(emails)-1].(map[string]any)
			d["email_addresses"] = emails[:len(emails)-1]
		}
	}
}

func (u *user) body(typ string, ts int64) []byte {
	return marshal(map[string]any{
		"data":             u.data,
		"event_attributes": map[string]any{"http_request": map[string]any{"client_ip": u.ip, "user_agent": u.agent}},
		"instance_id":      u.instance,
		"object":           "event",
		"timestamp":        json.Number(fmt.Sprint(ts)),
		"type":             typ,
	})
}

func (u *user) deletedBody(ts int64) []byte {
	data := map[string]any{"deleted": true, "id": u.id, "object": "user"}
	if v := u.data["external_id"]; v != nil {
		data["external_id"] = v
	}
	return marshal(map[string]any{
		"data":             data,
		"event_attributes": map[string]any{"http_request": map[string]any{"client_ip": "", "user_agent": ""}},
		"instance_id":      u.instance,
		"object":           "event",
		"timestamp":        json.Number(fmt.Sprint(ts)),
		"type":             "user.deleted",
	})
}

// imageToken is the shape of Clerk's image URLs: base64url JSON naming the
// instance and the user.
func imageToken(instance, userID, typ string) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"type":%q,"iid":%q,"rid":%q}`, typ, instance, userID))
}

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func base62(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func hex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[r.IntN(16)]
	}
	return string(b)
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func clone(m map[string]any) map[string]any {
	var out map[string]any
	if err := decode(marshal(m), &out); err != nil {
		panic(err)
	}
	return out
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
