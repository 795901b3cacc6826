// Hand-written reference for the W4A8 PE: int8 x int4 multiply-accumulate, the generated PE's ports.
`default_nettype none
module ref_mac_w4a8 #(parameter PSUM = 16) (
    input  wire            clk,
    input  wire            rst,
    input  wire [8:0]      op_in,
    input  wire [PSUM-1:0] psum_in,
    input  wire [3:0]      weight0,
    input  wire [3:0]      weight1,
    output reg  [8:0]      op_out,
    output reg  [PSUM-1:0] psum_out
);
    wire [3:0] w = op_in[8] ? weight1 : weight0;
    wire signed [11:0] p = $signed(op_in[7:0]) * $signed(w);
    always @(posedge clk) begin
        if (rst) begin
            op_out <= 9'd0;
            psum_out <= {PSUM{1'b0}};
        end else begin
            op_out <= op_in;
            psum_out <= psum_in + {{(PSUM-12){p[11]}}, p};
        end
    end
endmodule
`default_nettype wire
