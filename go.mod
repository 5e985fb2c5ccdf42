module github.com/yokedcache/yokedcache

go 1.26
