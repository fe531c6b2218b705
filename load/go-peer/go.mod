module pprofd/load/go-peer

go 1.19
