module github.com/tend-sh/tend

go 1.26.8

require (
	github.com/pelletier/go-toml/v2 v2.4.3
	golang.org/x/sys v0.49.0 // indirect
)
