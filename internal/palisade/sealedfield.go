package palisade

// SealedField names the place a sealed value lives: a column of a row. The
// keyring binds all three parts into the value's envelope, so it opens only
// in the same place. It is named here, in the shared vocabulary, so that the
// store can ask for sealing and the keyring can answer without either
// importing the other.
type SealedField struct {
	Table  string // "channels"
	Column string // "sealed_credentials"
	RowID  string // the row's primary key, "ch_..."
}
