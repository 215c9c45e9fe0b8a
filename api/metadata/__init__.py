"""The metadata service (Nova's metadata API, port 8775): what an instance
learns about itself from 169.254.169.254, through the network agent's proxies."""
