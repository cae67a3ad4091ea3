module github.com/tend-sh/tend

go 1.26.8

require (
	github.com/pelletier/go-toml/v2 v2.4.3
	github.com/robfig/cron/v3 v3.0.1
	golang.org/x/sys v0.49.0
)
