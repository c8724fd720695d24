package db

import (
	"database/sql/driver"

	"github.com/lib/pq"
)

// PinnedConnector is Connect's connector for dsn as given, without the
// search_path Connect adds, so that tests can offer it a connection whose
// path is wrong, as a pooler dropping the parameter would.
func PinnedConnector(dsn, schema string) (driver.Connector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return pinnedConnector{Connector: c, schema: schema}, nil
}
