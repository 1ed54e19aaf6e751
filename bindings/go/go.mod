module github.com/spandb/spandb/bindings/go

go 1.19
