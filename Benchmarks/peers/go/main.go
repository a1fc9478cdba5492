// The Go peer of the GET /notes benchmark: net/http + golang-jwt v4, the notes of each user held in memory.
//
// Verification follows docs/design.md §2 as far as golang-jwt goes, plus the checks it leaves to the caller: alg HS256
// only (WithValidMethods), typ at+jwt, no crit, kid naming a key of the keyring, MAC compared with hmac.Equal
// (constant time, inside golang-jwt), iss, aud contains the audience, sub a non-empty string, iat and exp present,
// exp/iat/nbf with the leeway. Not checked (golang-jwt cannot): duplicate JSON members, the 8 KiB length limit.
//
// Environment: PEER_PORT, PEER_KEYRING (the key service's /v1/keyring document), PEER_NOTES (JSON object: sub →
// the user's notes), PEER_ISSUER (authstack), PEER_AUDIENCE (notes), PEER_LEEWAY (30 seconds).
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

type note struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type page struct {
	Notes      []note  `json:"notes"`
	NextCursor *string `json:"next_cursor"`
}

type claims struct {
	jwt.RegisteredClaims
	Username string `json:"username,omitempty"`
	Sid      string `json:"sid,omitempty"`
}

var (
	issuer   = env("PEER_ISSUER", "authstack")
	audience = env("PEER_AUDIENCE", "notes")
	leeway   time.Duration
	keys     = map[string][]byte{}
	notes    = map[string][]note{}
	parser   = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}))
)

// Valid is golang-jwt v4's claim hook (v4 has no leeway option): docs/design.md §2's time and identity rules.
func (c claims) Valid() error {
	now := time.Now()
	switch {
	case c.Issuer != issuer:
		return errors.New("iss")
	case !c.VerifyAudience(audience, true):
		return errors.New("aud")
	case c.Subject == "":
		return errors.New("sub")
	case c.IssuedAt == nil || c.IssuedAt.After(now.Add(leeway)):
		return errors.New("iat")
	case c.NotBefore != nil && c.NotBefore.After(now.Add(leeway)):
		return errors.New("nbf")
	case c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(leeway)):
		return errors.New("exp")
	}
	return nil
}

func key(token *jwt.Token) (interface{}, error) {
	typ, _ := token.Header["typ"].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return nil, errors.New("typ")
	}
	if _, critical := token.Header["crit"]; critical {
		return nil, errors.New("crit")
	}
	kid, _ := token.Header["kid"].(string)
	secret, held := keys[kid]
	if !held {
		return nil, errors.New("kid")
	}
	return secret, nil
}

func listNotes(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Get("Authorization")
	if len(header) < 8 || !strings.EqualFold(header[:7], "bearer ") {
		unauthorized(w)
		return
	}
	var verified claims
	token, err := parser.ParseWithClaims(strings.TrimLeft(header[7:], " "), &verified, key)
	if err != nil || !token.Valid {
		unauthorized(w)
		return
	}
	own := notes[verified.Subject]
	if own == nil {
		own = []note{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(page{Notes: own})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="notes", error="invalid_token"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"code":"invalid_token"}`))
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func readJSON(variable string, into interface{}) {
	data, err := os.ReadFile(os.Getenv(variable))
	if err == nil {
		err = json.Unmarshal(data, into)
	}
	if err != nil {
		log.Fatalf("%s: %v", variable, err)
	}
}

func main() {
	seconds, err := strconv.ParseFloat(env("PEER_LEEWAY", "30"), 64)
	if err != nil {
		log.Fatal("PEER_LEEWAY: ", err)
	}
	leeway = time.Duration(seconds * float64(time.Second))
	var keyring struct {
		Keys []struct{ Kid, K string } `json:"keys"`
	}
	readJSON("PEER_KEYRING", &keyring)
	for _, k := range keyring.Keys {
		secret, err := base64.RawURLEncoding.DecodeString(k.K)
		if err != nil {
			log.Fatalf("PEER_KEYRING: key %s: %v", k.Kid, err)
		}
		keys[k.Kid] = secret
	}
	readJSON("PEER_NOTES", &notes)
	http.HandleFunc("/notes", listNotes)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+env("PEER_PORT", "8090"), nil))
}
