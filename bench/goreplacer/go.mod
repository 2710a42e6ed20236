module sigil/bench/goreplacer

go 1.19
