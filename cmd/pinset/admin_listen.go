package main

import (
	"context"
	"fmt"
	"net"
)

// listenAdmin binds admin_listen (package serveconfig; nil when it is not
// set). The listener is closed when ctx ends, if the server has not
// closed it before.
func listenAdmin(ctx context.Context, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin_listen: %v", err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	return ln, nil
}
