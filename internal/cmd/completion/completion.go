// Package completion is `gonfct completion SHELL`: the script that lets a
// shell complete gonfct's words. The scripts come from cobra; they ask the
// binary itself what may come next (`gonfct __complete ...`).
package completion

import (
	"fmt"
	"io"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/spf13/cobra"
)

// CompletionOptions are the words and flags of `completion SHELL`.
type CompletionOptions struct {
	// Out is where the script goes: stdout, once -o is known to be text.
	Out          io.Writer
	Shell        string
	Descriptions bool
	// Root is the command tree the script completes.
	Root *cobra.Command
}

// shells are the shells cobra writes scripts for: what each one's help
// says, and where it looks for the script.
var shells = []struct {
	name, long, example string
}{
	{"bash", `It needs the bash-completion package, which most distributions install with
bash (Debian: apt install bash-completion).`, `  gonfct completion bash > /etc/bash_completion.d/gonfct
  source <(gonfct completion bash)            # this shell only`},
	{"zsh", `It needs compinit, which most zsh set-ups run already (else add
"autoload -U compinit; compinit" to ~/.zshrc).`, `  gonfct completion zsh > "${fpath[1]}/_gonfct"
  source <(gonfct completion zsh)             # this shell only`},
	{"fish", `fish loads it from its completions directory when "gonfct" is first typed.`,
		`  gonfct completion fish > ~/.config/fish/completions/gonfct.fish`},
	{"powershell", `Add the line of the example to your PowerShell profile to load it in every
session.`, `  gonfct completion powershell | Out-String | Invoke-Expression`},
}

// NewCmdCompletion makes the `completion` group, a command per shell.
func NewCmdCompletion(env *cli.Env, runF func(*CompletionOptions) error) *cobra.Command {
	g := cli.NewGroup("completion", "Print the script that completes gonfct's commands and flags in a shell")
	g.Long = `Print the script that lets a shell complete gonfct's commands, flags and
arguments. The script asks gonfct itself what may come next, so it stays
right when gonfct is upgraded. Write it where the shell looks for
completions, or source it for the current shell only.`
	g.Example = `  gonfct completion bash > /etc/bash_completion.d/gonfct
  gonfct completion zsh > "${fpath[1]}/_gonfct"
  gonfct completion fish > ~/.config/fish/completions/gonfct.fish`
	for _, s := range shells {
		g.AddCommand(newCmdShell(env, s.name, s.long, s.example, runF))
	}
	return g
}

func newCmdShell(env *cli.Env, shell, long, example string, runF func(*CompletionOptions) error) *cobra.Command {
	opts := &CompletionOptions{Shell: shell}
	var noDesc bool
	cmd := &cobra.Command{
		Use:               shell,
		Short:             "Print the " + shell + " completion script",
		Long:              "Print the " + shell + " completion script for gonfct.\n\n" + long,
		Example:           example,
		Args:              cli.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := env.Document("gonfct completion prints a shell script")
			if err != nil {
				return err
			}
			opts.Out, opts.Root, opts.Descriptions = out, cmd.Root(), !noDesc
			if runF != nil {
				return runF(opts)
			}
			return completionRun(opts)
		},
	}
	cmd.Flags().BoolVar(&noDesc, "no-descriptions", false, "complete words without their descriptions")
	return cmd
}

func completionRun(opts *CompletionOptions) error {
	r, w, desc := opts.Root, opts.Out, opts.Descriptions
	switch opts.Shell {
	case "bash":
		return r.GenBashCompletionV2(w, desc)
	case "zsh":
		if desc {
			return r.GenZshCompletion(w)
		}
		return r.GenZshCompletionNoDesc(w)
	case "fish":
		return r.GenFishCompletion(w, desc)
	case "powershell":
		if desc {
			return r.GenPowerShellCompletionWithDesc(w)
		}
		return r.GenPowerShellCompletion(w)
	}
	return fmt.Errorf("no completion script for shell %q", opts.Shell)
}
