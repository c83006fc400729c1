package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/palisadehq/palisade/internal/auth"
	chwidget "github.com/palisadehq/palisade/internal/channel/widget"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/seal"
)

// loadMasterKey loads the master key: PALISADE_MASTER_KEY, else the
// passphrase, else master.key in the data directory (created with mode
// 0600 on first start in embedded mode).
func loadMasterKey(cfg config.Config) (seal.MasterKey, error) {
	if cfg.Postgres() && cfg.MasterKey.IsZero() && cfg.MasterPassphrase.IsZero() {
		// Every process of a scale-out install must share one key; one
		// made up on this machine would seal data no other process can
		// open.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, seal.MasterKeyFile)); errors.Is(err, os.ErrNotExist) {
			return seal.MasterKey{}, fmt.Errorf("%w: on PostgreSQL set PALISADE_MASTER_KEY (or PALISADE_MASTER_KEY_FILE) to the key every process shares; generate one with: head -c 32 /dev/urandom | base64", ErrUsage)
		}
	}
	k, err := seal.LoadMasterKey(seal.MasterKeyConfig{Key: cfg.MasterKey, Passphrase: cfg.MasterPassphrase, Dir: cfg.DataDir})
	if err != nil {
		return seal.MasterKey{}, fmt.Errorf("loading master key: %w", err)
	}
	return k, nil
}

// The keys derived from the master key besides the keyring's, one purpose
// each (seal.MasterKey.Derive; the PostgreSQL scope key is
// postgres.DeriveScopeKey). Their labels are fixed: changing one
// invalidates everything made with the key.
const (
	tokenKeyPurpose   = "session and one-time token hashes v1"
	jobArgsKeyPurpose = "job arguments v1"
	widgetKeyPurpose  = "widget session tokens v1"
	// piiKeyPurpose keys the hashes that stand in for personal data with
	// pii_mode before_storage (placeholder numbers, user and chat ids).
	piiKeyPurpose = "personal data hashes v1"
)

// tokenKey makes the stored form of session, one-time and invitation
// tokens.
func tokenKey(master seal.MasterKey) (*auth.TokenKey, error) {
	k, err := master.Derive(tokenKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return auth.NewTokenKey(k)
}

// jobArgsKey authenticates the arguments of jobs that act in a tenant's
// scope.
func jobArgsKey(master seal.MasterKey) (*job.ArgsKey, error) {
	k, err := master.Derive(jobArgsKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return job.NewArgsKey(k)
}

// widgetKeys signs the website widget's session tokens, so every process
// of an install accepts the tokens of the others.
func widgetKeys(master seal.MasterKey) (*chwidget.Keys, error) {
	k, err := master.Derive(widgetKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return chwidget.NewKeys(k)
}
