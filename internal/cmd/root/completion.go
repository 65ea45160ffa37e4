package root

import (
	"github.com/gonfct/gonfct/internal/cli"
	"github.com/spf13/cobra"
)

// completionExamples are shown by `gonfct completion SHELL --help` and in
// the man pages: where each shell looks for the script.
var completionExamples = map[string]string{
	"bash": `  gonfct completion bash > /etc/bash_completion.d/gonfct
  source <(gonfct completion bash)            # this shell only`,
	"zsh": `  gonfct completion zsh > "${fpath[1]}/_gonfct"
  source <(gonfct completion zsh)             # this shell only`,
	"fish":       `  gonfct completion fish > ~/.config/fish/completions/gonfct.fish`,
	"powershell": `  gonfct completion powershell | Out-String | Invoke-Expression`,
}

// addCompletionCmd adds cobra's `completion` command now rather than at
// Execute, so that it has examples and a man page like every command. The
// scripts go to the root's output, set before this is called.
func addCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.RunE = cli.GroupRunE // "completion tcsh" is a usage error, not help
		c.Example = `  gonfct completion bash > /etc/bash_completion.d/gonfct
  gonfct completion zsh > "${fpath[1]}/_gonfct"
  gonfct completion fish > ~/.config/fish/completions/gonfct.fish`
		for _, s := range c.Commands() {
			s.Example = completionExamples[s.Name()]
		}
	}
}
