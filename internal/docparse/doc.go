// Package docparse turns an uploaded document — plain text, Markdown,
// HTML, PDF or DOCX — into its title and plain text, within limits on the
// input size, the bytes it may decompress, the text it returns and how
// deeply its structure may nest.
//
// It is the first code to read a hostile file, and is written to run in a
// confined worker as well as in the server: it must never read past its
// limits (every decompression goes through a capped reader, every
// recursion through a depth check), never let a panic escape Extract,
// never touch the file system or the network, and never return an error
// whose message quotes the document.
package docparse
