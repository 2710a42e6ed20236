module sigil/oracle

go 1.19
