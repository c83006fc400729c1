package config

import (
	"reflect"

	"github.com/palisadehq/palisade/internal/secret"
)

var secretType = reflect.TypeFor[secret.Secret]()

// SecretValues returns the value of every secret the configuration holds,
// wherever it sits (a field, a provider's settings), for the process's
// redactor to remove from logs and errors. It walks the Config's fields, so
// a secret setting added later is covered without anyone remembering to
// list it here.
func (c Config) SecretValues() []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch {
		case v.Type() == secretType:
			if s := v.Interface().(secret.Secret); !s.IsZero() {
				out = append(out, s.Reveal())
			}
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case v.Kind() == reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Value())
			}
		case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case v.Kind() == reflect.Pointer && !v.IsNil():
			walk(v.Elem())
		}
	}
	walk(reflect.ValueOf(c))
	return out
}
