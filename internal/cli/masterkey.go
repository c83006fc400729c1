package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/palisadehq/palisade/internal/config"
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
