package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/server"
	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/witness"
)

func init() { addCommand(newWitnessCmd) }

// witnessFlags are the flags of pinset witness and pinset witness key.
type witnessFlags struct {
	key, name, state, listen, cert, certKey string
	logs                                    []string
}

func (f *witnessFlags) cosigner() (*tlog.Cosigner, error) {
	if f.key == "" || f.name == "" {
		return nil, errorWithHint(errors.New("--key and --name are required"), "pinset key new witness --alg ed25519; pinset witness key --key witness.key --name witness.example.org/w1")
	}
	k, err := server.ReadLogKey(f.key, nil)
	if err != nil {
		return nil, fmt.Errorf("--key: %v", err)
	}
	return tlog.NewCosigner(f.name, k, time.Now)
}

func newWitnessCmd() *cobra.Command {
	var f witnessFlags
	cmd := &cobra.Command{
		Use:   "witness --key FILE --name NAME --log VKEY... --state FILE [--listen ADDR]",
		Short: "Run a transparency log witness (C2SP tlog-witness)",
		Long: `pinset witness cosigns the checkpoints of the transparency logs named by
--log (their verifier keys, as roots name them in log.key), answering
POST /add-checkpoint as C2SP tlog-witness specifies. For each log it keeps
the latest checkpoint it cosigned in --state (written before each answer)
and cosigns a new one only with a consistency proof from it: a log that
shows two histories (a fork) cannot get both cosigned.

Give pin services its URL and key (serve's transparency_log.witnesses) and
roots its key (root new --witness KEY --witness-threshold N).

  pinset witness key --key witness.key --name NAME

prints the witness's verifier key (a C2SP cosignature/v1 key).

Examples:
  pinset key new witness --alg ed25519
  pinset witness --key witness.key --name witness.example.org/w1 \
      --log "$(pinset audit log-key --key log.key --name pins.example.com --app APP)" \
      --state /var/lib/pinset-witness/state.json --listen :8443 \
      --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runWitness(cmd.Context(), &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "the witness's Ed25519 private key (PKCS#8 PEM, mode 0600)")
	fl.StringVar(&f.name, "name", "", "the witness's name (a schema-less URL, witness.example.org/w1)")
	fl.StringArrayVar(&f.logs, "log", nil, "a log's verifier key (repeatable)")
	fl.StringVar(&f.state, "state", "", "the file that keeps the latest cosigned checkpoints")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8090", "the address to listen on")
	fl.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this certificate chain (PEM)")
	fl.StringVar(&f.certKey, "tls-key", "", "and this key (PEM)")
	cmd.AddCommand(newWitnessKeyCmd())
	return cmd
}

func newWitnessKeyCmd() *cobra.Command {
	var f witnessFlags
	cmd := &cobra.Command{
		Use:   "key --key FILE --name NAME",
		Short: "Print a witness's verifier key",
		Long: `Prints the verifier key of the witness with this key and name: the value
for serve's transparency_log.witnesses key and a root's log.witnesses.

Example:
  pinset witness key --key witness.key --name witness.example.org/w1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.cosigner()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.VerifierKey())
			return nil
		},
	}
	cmd.Flags().StringVar(&f.key, "key", "", "the witness's Ed25519 private key (PKCS#8 PEM)")
	cmd.Flags().StringVar(&f.name, "name", "", "the witness's name")
	return cmd
}

func runWitness(ctx context.Context, f *witnessFlags) error {
	c, err := f.cosigner()
	if err != nil {
		return err
	}
	if f.state == "" || len(f.logs) == 0 {
		return errors.New("--state and at least one --log are required: a witness must remember what it cosigned")
	}
	if (f.cert == "") != (f.certKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	w, err := witness.New(witness.Config{Cosigner: c, Logs: f.logs, State: f.state})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %v", err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	fmt.Fprintf(os.Stderr, "pinset witness %s on %s, witnessing %d log(s)\n", c.Name(), ln.Addr(), len(f.logs))
	if f.cert != "" {
		err = hs.ServeTLS(ln, f.cert, f.certKey)
	} else {
		err = hs.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
